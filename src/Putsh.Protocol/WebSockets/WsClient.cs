using System.Buffers;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace Putsh.Protocol.WebSockets;

/// <summary>How <see cref="WsClient.ConnectAsync"/> dials and upgrades.</summary>
internal sealed class WsClientOptions
{
    /// <summary>Subprotocols offered, in order of preference.</summary>
    public IReadOnlyList<string> SubProtocols { get; init; } = [];

    /// <summary>Headers sent after the handshake's own.</summary>
    public IReadOnlyList<KeyValuePair<string, string>> Headers { get; init; } = [];

    /// <summary>The <c>Host</c> header to send; the URI's authority if not given.</summary>
    public string? Host { get; init; }

    /// <summary>Dial this address instead of resolving the URI's host (the host still names the server for TLS and <c>Host</c>).</summary>
    public IPAddress? PinnedAddress { get; init; }

    /// <summary>For <c>wss</c>: a client certificate to present.</summary>
    public X509Certificate2? ClientCertificate { get; init; }

    /// <summary>For <c>wss</c>: replaces the system's check of the server's certificate.</summary>
    public RemoteCertificateValidationCallback? ServerCertificateCheck { get; init; }

    /// <summary>The largest response head accepted.</summary>
    public int MaxResponseHead { get; init; } = 64 * 1024;

    public TimeSpan KeepAliveInterval { get; init; }

    public TimeSpan KeepAliveTimeout { get; init; } = Timeout.InfiniteTimeSpan;

    public TimeProvider Time { get; init; } = TimeProvider.System;
}

/// <summary>A handshake the server did not complete: its status and headers, for the caller to report.</summary>
internal sealed class WsConnectException(string message, int status, IReadOnlyDictionary<string, string> headers, Exception? inner = null)
    : IOException(message, inner)
{
    /// <summary>The server's status; 0 when no answer was read.</summary>
    public int Status { get; } = status;

    /// <summary>The server's response headers (repeated ones joined with commas), names compared without case.</summary>
    public IReadOnlyDictionary<string, string> Headers { get; } = headers;
}

/// <summary>A socket the server upgraded, with the headers of its answer.</summary>
internal sealed record WsConnection(PutshWebSocket Socket, IReadOnlyDictionary<string, string> Headers);

/// <summary>
/// The client side of a WebSocket of putsh's own: TCP (and TLS for <c>wss</c>), the upgrade request of
/// <see cref="WsHandshake"/>, the checks of the answer, then a <see cref="PutshWebSocket"/> on the same connection.
/// HTTP/1.1 only, no proxy: routers are dialled directly.
/// </summary>
internal static class WsClient
{
    private static readonly Dictionary<string, string> NoHeaders = new(StringComparer.OrdinalIgnoreCase);

    public static async Task<WsConnection> ConnectAsync(Uri uri, WsClientOptions options, CancellationToken cancellationToken)
    {
        var secure = uri.Scheme is "wss" or "https";
        if (!secure && uri.Scheme is not ("ws" or "http"))
        {
            throw new ArgumentException($"A WebSocket URI is ws:// or wss://, not {uri.Scheme}://.", nameof(uri));
        }

        var host = uri.IdnHost;
        // An address literal is dialled as it is: a DnsEndPoint would go through the resolver's multi-connect path.
        EndPoint target = options.PinnedAddress is { } pinned ? new IPEndPoint(pinned, uri.Port)
            : uri.HostNameType is UriHostNameType.IPv4 or UriHostNameType.IPv6 && IPAddress.TryParse(uri.DnsSafeHost, out var literal) ? new IPEndPoint(literal, uri.Port)
            : new DnsEndPoint(host, uri.Port);
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        WsTransport? transport = null;
        var upgraded = false;
        try
        {
            await socket.ConnectAsync(target, cancellationToken).ConfigureAwait(false);
            if (secure)
            {
                var tls = new SslStream(new NetworkStream(socket, ownsSocket: true), leaveInnerStreamOpen: false);
                transport = WsTransport.ForStream(tls);
                await tls.AuthenticateAsClientAsync(
                    new SslClientAuthenticationOptions
                    {
                        TargetHost = host,
                        ClientCertificates = options.ClientCertificate is { } certificate ? [certificate] : null,
                        RemoteCertificateValidationCallback = options.ServerCertificateCheck,
                        ApplicationProtocols = [SslApplicationProtocol.Http11],
                    },
                    cancellationToken).ConfigureAwait(false);
            }
            else
            {
                transport = WsTransport.ForSocket(socket);
            }

            var key = WsHandshake.CreateKey();
            var request = new ArrayBufferWriter<byte>(512);
            var authority = uri.IsDefaultPort ? host : host + ":" + uri.Port.ToString(System.Globalization.CultureInfo.InvariantCulture);
            WsHandshake.WriteRequest(request, options.Host ?? authority, uri.PathAndQuery, key, options.SubProtocols, options.Headers);
            await transport.SendAsync(new ReadOnlySequence<byte>(request.WrittenMemory), cancellationToken).ConfigureAwait(false);

            var (status, headers) = await ReadResponseHeadAsync(transport.Input, options.MaxResponseHead, cancellationToken).ConfigureAwait(false);
            if (WsHandshake.Validate(status, name => headers.GetValueOrDefault(name), key, [.. options.SubProtocols], out var subProtocol) is { } problem)
            {
                throw new WsConnectException($"The WebSocket upgrade failed: {problem}.", status, headers);
            }

            var webSocket = new PutshWebSocket(transport, new PutshWebSocketOptions
            {
                IsServer = false,
                SubProtocol = subProtocol,
                KeepAliveInterval = options.KeepAliveInterval,
                KeepAliveTimeout = options.KeepAliveTimeout,
                Time = options.Time,
            });
            upgraded = true;
            return new WsConnection(webSocket, headers);
        }
        catch (Exception ex) when (ex is not WsConnectException && ex is not OperationCanceledException)
        {
            throw new WsConnectException("The WebSocket connection failed: " + ex.Message, 0, NoHeaders, ex);
        }
        finally
        {
            if (!upgraded)
            {
                if (transport is not null)
                {
                    transport.Abort();
                }
                else
                {
                    socket.Dispose();
                }
            }
        }
    }

    /// <summary>Reads the status line and headers of the answer, leaving what follows (frames) in the pipe.</summary>
    private static async Task<(int Status, Dictionary<string, string> Headers)> ReadResponseHeadAsync(System.IO.Pipelines.PipeReader input, int max, CancellationToken cancellationToken)
    {
        while (true)
        {
            var read = await input.ReadAsync(cancellationToken).ConfigureAwait(false);
            var buffer = read.Buffer;
            var reader = new SequenceReader<byte>(buffer);
            if (reader.TryReadTo(out ReadOnlySequence<byte> head, "\r\n\r\n"u8))
            {
                var text = Encoding.Latin1.GetString(head);
                input.AdvanceTo(reader.Position);
                return Parse(text);
            }

            if (buffer.Length > max)
            {
                input.AdvanceTo(buffer.Start);
                throw new WsConnectException($"The server's answer has a head over {max} bytes.", 0, NoHeaders);
            }

            if (read.IsCompleted)
            {
                input.AdvanceTo(buffer.Start);
                throw new WsConnectException("The server closed the connection before answering the upgrade.", 0, NoHeaders);
            }

            input.AdvanceTo(buffer.Start, buffer.End);
        }
    }

    private static (int Status, Dictionary<string, string> Headers) Parse(string head)
    {
        var lines = head.Split("\r\n");
        var statusLine = lines[0].Split(' ', 3);
        if (statusLine.Length < 2 || !statusLine[0].StartsWith("HTTP/1.", StringComparison.Ordinal)
            || !int.TryParse(statusLine[1], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var status))
        {
            throw new WsConnectException("The server's answer is not HTTP/1.1: " + lines[0], 0, NoHeaders);
        }

        var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var line in lines.AsSpan(1))
        {
            var colon = line.IndexOf(':', StringComparison.Ordinal);
            if (colon <= 0)
            {
                continue;
            }

            var name = line[..colon].Trim();
            var value = line[(colon + 1)..].Trim();
            headers[name] = headers.TryGetValue(name, out var existing) ? existing + ", " + value : value;
        }

        return (status, headers);
    }
}
