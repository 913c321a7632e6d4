using System.Buffers;
using System.Globalization;
using System.IO.Pipelines;
using System.Net;
using System.Text;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Putsh.Protocol;
using Putsh.Protocol.V3;
using Putsh.Protocol.WebSockets;
using Putsh.Router.Registration;

namespace Putsh.Router.Hosting;

/// <summary>
/// Serves connector registrations below HTTP, on a listener that takes only registrations.
/// </summary>
public static class RegistrationConnections
{
    /// <summary>
    /// Connection middleware for a registration listener: a connection whose first request is a WebSocket upgrade to
    /// <c>/register</c> is read, decided and answered (101, or the refusal) by putsh itself, and its socket then runs
    /// on the connection's own pipes, so an idle connector socket holds none of Kestrel's per-request state (the
    /// request, its headers, the HTTP context and the middleware chain it went through). Anything else, and any
    /// registration head that is not plainly well-formed or is larger than <paramref name="maxHeadSize"/> bytes or
    /// <paramref name="maxHeaders"/> fields, goes on to the HTTP pipeline unread, which answers it as it would without
    /// this middleware. Call it after <c>UseHttps</c>, so that it sees the decrypted connection and the client
    /// certificate.
    /// </summary>
    public static ListenOptions UsePutshRegistrationConnections(this ListenOptions listen, int maxHeadSize = 32 * 1024, int maxHeaders = 100)
    {
        ArgumentNullException.ThrowIfNull(listen);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxHeadSize);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxHeaders);
        var services = listen.ApplicationServices;
        RegistrationConnectionHandler? handler = null;
        listen.Use(next => connection =>
        {
            handler ??= new RegistrationConnectionHandler(
                services.GetRequiredService<RegistrationHandler>(),
                services.GetService<TimeProvider>() ?? TimeProvider.System,
                services.GetService<IOptions<KestrelServerOptions>>()?.Value.Limits ?? new KestrelServerLimits(),
                maxHeadSize,
                maxHeaders);
            return handler.OnConnectionAsync(connection, next);
        });
        return listen;
    }
}

/// <summary>The work of <see cref="RegistrationConnections.UsePutshRegistrationConnections"/> for one listener.</summary>
internal sealed class RegistrationConnectionHandler(RegistrationHandler registrations, TimeProvider time, KestrelServerLimits limits, int maxHeadSize, int maxHeaders)
{
    private static ReadOnlySpan<byte> Prefix => "GET /register"u8;

    private static ReadOnlySpan<byte> HeadEnd => "\r\n\r\n"u8;

    // Room for the request line and the CRLFs around the fields, beyond what the field limit counts.
    private const int LineAllowance = 8 * 1024;

    public async Task OnConnectionAsync(ConnectionContext connection, ConnectionDelegate next)
    {
        var input = connection.Transport.Input;
        RegistrationRequest? request;
        SequencePosition headEnd;
        try
        {
            (request, headEnd) = await ReadHeadAsync(connection);
        }
        catch (Exception)
        {
            // Timed out before a whole head, server stopping, or the transport failed: nothing to serve.
            return;
        }

        if (request is null)
        {
            // Not a registration this middleware answers: HTTP reads the same bytes.
            await next(connection);
            return;
        }

        input.AdvanceTo(headEnd);
        var decision = registrations.Decide(request);
        if (!decision.Accepted || decision.IsDeregister)
        {
            await WriteRefusalAsync(connection.Transport.Output, decision);
            return;
        }

        connection.Features.Get<PendingRegistration>()?.Complete();
        var key = request.Headers.SecWebSocketKey.ToString();
        await registrations.RunAsync(
            decision,
            async (subProtocol, options) =>
            {
                var output = connection.Transport.Output;
                WriteSwitchingProtocols(output, key, subProtocol, decision);
                await output.FlushAsync(connection.ConnectionClosed);
                return new PutshWebSocket(WsTransport.ForPipe(connection.Transport, connection.Abort), options);
            },
            connection.ConnectionClosed);
    }

    /// <summary>
    /// Reads the first request head. Returns it with the position after it when it is a well-formed WebSocket upgrade
    /// to <c>/register</c> within the limits; returns null, with nothing consumed, for anything else.
    /// </summary>
    private async Task<(RegistrationRequest?, SequencePosition)> ReadHeadAsync(ConnectionContext connection)
    {
        // Bounded as Kestrel bounds an idle connection before its first request, then (once bytes arrive) as it
        // bounds a request head; server shutdown ends the wait too.
        var closeRequested = connection.Features.Get<IConnectionLifetimeNotificationFeature>()?.ConnectionClosedRequested ?? CancellationToken.None;
        using var timeout = new CancellationTokenSource(Clamp(limits.KeepAliveTimeout), time);
        using var stop = closeRequested.Register(static s => ((CancellationTokenSource)s!).Cancel(), timeout);
        var sawBytes = false;
        var input = connection.Transport.Input;
        var limit = (long)maxHeadSize + LineAllowance;
        while (true)
        {
            var result = await input.ReadAsync(timeout.Token);
            var buffer = result.Buffer;
            if (!StartsLikeRegistration(buffer))
            {
                input.AdvanceTo(buffer.Start, buffer.Start);
                return (null, default);
            }

            var reader = new SequenceReader<byte>(buffer);
            if (reader.TryReadTo(out ReadOnlySequence<byte> head, HeadEnd, advancePastDelimiter: true))
            {
                var request = head.Length + HeadEnd.Length <= limit ? Parse(head, connection) : null;
                if (request is null)
                {
                    input.AdvanceTo(buffer.Start, buffer.Start);
                    return (null, default);
                }

                // The caller consumes the head (and only the head: what follows is the socket's).
                return (request, reader.Position);
            }

            if (buffer.Length > limit || result.IsCompleted || result.IsCanceled)
            {
                // Too large for a registration, or the input ended: HTTP answers what there is.
                input.AdvanceTo(buffer.Start, buffer.Start);
                return (null, default);
            }

            input.AdvanceTo(buffer.Start, buffer.End);
            if (!sawBytes && !buffer.IsEmpty)
            {
                sawBytes = true;
#pragma warning disable RS0030 // made with the TimeProvider above, which CancelAfter keeps using
                timeout.CancelAfter(Clamp(limits.RequestHeadersTimeout));
#pragma warning restore RS0030
            }
        }
    }

    private static bool StartsLikeRegistration(in ReadOnlySequence<byte> buffer)
    {
        var prefix = Prefix;
        var length = (int)Math.Min(buffer.Length, prefix.Length);
        Span<byte> start = stackalloc byte[prefix.Length];
        buffer.Slice(0, length).CopyTo(start);
        return start[..length].SequenceEqual(prefix[..length]);
    }

    /// <summary>
    /// Reads a request head strictly (RFC 9112 §3, §5): <c>GET</c>, an origin-form target whose path is exactly
    /// <c>/register</c> or <c>/register/</c>, HTTP/1.1, one Host, no body, field names that are tokens and values of
    /// visible ASCII, no obsolete line folding. Null for anything else, which HTTP then reads.
    /// </summary>
    private RegistrationRequest? Parse(in ReadOnlySequence<byte> head, ConnectionContext connection)
    {
        var length = (int)head.Length;
        var rented = ArrayPool<byte>.Shared.Rent(length);
        try
        {
            head.CopyTo(rented);
            return Parse(rented.AsSpan(0, length), connection);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
    }

    private RegistrationRequest? Parse(ReadOnlySpan<byte> head, ConnectionContext connection)
    {
        var lineEnd = head.IndexOf("\r\n"u8);
        var requestLine = lineEnd < 0 ? head : head[..lineEnd];
        const int methodLength = 4; // "GET "
        var versionStart = requestLine.Length - " HTTP/1.1".Length;
        if (versionStart <= methodLength || !requestLine[versionStart..].SequenceEqual(" HTTP/1.1"u8))
        {
            return null;
        }

        var target = requestLine[methodLength..versionStart];
        var question = target.IndexOf((byte)'?');
        var path = question < 0 ? target : target[..question];
        if (!(path.SequenceEqual("/register"u8) || path.SequenceEqual("/register/"u8)) || !IsVisible(target))
        {
            return null;
        }

        var headers = new HeaderDictionary();
        var fields = 0;
        long size = 0;
        var hosts = 0;
        var rest = lineEnd < 0 ? default : head[(lineEnd + 2)..];
        while (!rest.IsEmpty)
        {
            var end = rest.IndexOf("\r\n"u8);
            var line = end < 0 ? rest : rest[..end];
            rest = end < 0 ? default : rest[(end + 2)..];
            var colon = line.IndexOf((byte)':');
            if (colon <= 0 || !IsToken(line[..colon]))
            {
                return null; // includes obs-fold (a line starting with whitespace) and whitespace before the colon
            }

            var value = line[(colon + 1)..].Trim(" \t"u8);
            if (!IsFieldValue(value))
            {
                return null;
            }

            var name = Encoding.ASCII.GetString(line[..colon]);
            fields++;
            size += name.Length + value.Length + 4;
            if (fields > maxHeaders || size > maxHeadSize)
            {
                return null;
            }

            if (name.Equals("Host", StringComparison.OrdinalIgnoreCase))
            {
                hosts++;
            }
            else if (name.Equals("Content-Length", StringComparison.OrdinalIgnoreCase) || name.Equals("Transfer-Encoding", StringComparison.OrdinalIgnoreCase))
            {
                return null; // a body: not an upgrade this middleware takes
            }

            headers.Append(name, Encoding.ASCII.GetString(value));
        }

        if (hosts != 1)
        {
            return null;
        }

        if (!WsAccept.IsWebSocketRequest(HttpMethods.Get, headers, upgradable: true))
        {
            return null;
        }

        return new RegistrationRequest
        {
            Path = new PathString(Encoding.ASCII.GetString(path)),
            Headers = headers,
            Query = question < 0 ? QueryCollection.Empty : new QueryCollection(QueryHelpers.ParseQuery(Encoding.ASCII.GetString(target[question..]))),
            RemoteAddress = (connection.RemoteEndPoint as IPEndPoint)?.Address,
            ClientCertificate = connection.Features.Get<ITlsConnectionFeature>()?.ClientCertificate,
            IsWebSocket = true,
        };
    }

    // RFC 9110 §5.6.2: tchar.
    private static bool IsToken(ReadOnlySpan<byte> name)
    {
        foreach (var b in name)
        {
            if (!(char.IsAsciiLetterOrDigit((char)b) || "!#$%&'*+-.^_`|~"u8.Contains(b)))
            {
                return false;
            }
        }

        return true;
    }

    // RFC 9110 §5.5 without obs-text: visible ASCII, spaces and tabs.
    private static bool IsFieldValue(ReadOnlySpan<byte> value)
    {
        foreach (var b in value)
        {
            if (b is not (>= 0x21 and <= 0x7E) and not (byte)' ' and not (byte)'\t')
            {
                return false;
            }
        }

        return true;
    }

    private static bool IsVisible(ReadOnlySpan<byte> target)
    {
        foreach (var b in target)
        {
            if (b is < 0x21 or > 0x7E)
            {
                return false;
            }
        }

        return true;
    }

    private static void WriteSwitchingProtocols(PipeWriter output, string key, string? subProtocol, RegistrationDecision decision)
    {
        var head = new StringBuilder(256)
            .Append("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: ")
            .Append(WsHandshake.ComputeAccept(key))
            .Append("\r\n");
        if (subProtocol is not null)
        {
            head.Append("Sec-WebSocket-Protocol: ").Append(subProtocol).Append("\r\n");
        }

        if (decision.ExtensionsAnswer is { } extensions)
        {
            head.Append(WsFrame.ExtensionsHeaderName).Append(": ").Append(extensions).Append("\r\n");
        }

        if (decision.Negotiation.SendLegacyHeader)
        {
            head.Append(CrankerProtocol.LegacyHeaderName).Append(": ").Append(CrankerProtocol.LegacyHeaderValue).Append("\r\n");
        }

        head.Append("\r\n");
        Write(output, head);
    }

    /// <summary>The refusal as the HTTP pipeline would write it (status, reason, challenge, Retry-After), then the connection closes.</summary>
    private async Task WriteRefusalAsync(PipeWriter output, RegistrationDecision decision)
    {
        var verdict = decision.Verdict;
        var body = Encoding.UTF8.GetBytes(verdict.Reason + "\n");
        var head = new StringBuilder(256)
            .Append(CultureInfo.InvariantCulture, $"HTTP/1.1 {verdict.Status} {ReasonPhrases.GetReasonPhrase(verdict.Status)}\r\n")
            .Append(CultureInfo.InvariantCulture, $"Date: {time.GetUtcNow():r}\r\n")
            .Append("Content-Type: text/plain; charset=utf-8\r\n")
            .Append(CultureInfo.InvariantCulture, $"Content-Length: {body.Length}\r\n")
            .Append("Cache-Control: no-store\r\n")
            .Append("Connection: close\r\n");
        if (decision.RetryAfter is { } retryAfter)
        {
            head.Append("Retry-After: ").Append(retryAfter).Append("\r\n");
        }

        if (verdict.Challenge is { } challenge)
        {
            head.Append("WWW-Authenticate: ").Append(challenge).Append("\r\n");
        }

        head.Append("\r\n");
        Write(output, head);
        output.Write(body);
        try
        {
            await output.FlushAsync();
        }
        catch (Exception)
        {
            // The connector has gone: nothing to tell it.
        }
    }

    private static void Write(PipeWriter output, StringBuilder text)
    {
        foreach (var chunk in text.GetChunks())
        {
            var span = output.GetSpan(Encoding.UTF8.GetMaxByteCount(chunk.Length));
            output.Advance(Encoding.UTF8.GetBytes(chunk.Span, span));
        }
    }

    private static TimeSpan Clamp(TimeSpan timeout) =>
        timeout <= TimeSpan.Zero || timeout.TotalMilliseconds >= int.MaxValue ? Timeout.InfiniteTimeSpan : timeout;
}
