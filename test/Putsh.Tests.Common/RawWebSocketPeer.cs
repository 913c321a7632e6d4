using System.Net;
using System.Net.Sockets;
using System.Net.WebSockets;
using System.Security.Cryptography;
using System.Text;

namespace Putsh.Tests.Common;

/// <summary>
/// One end of a real WebSocket over a raw loopback TCP connection, with the handshake done by hand, so that a test can
/// count the control frames the other end sends: <see cref="Incoming"/> sees every frame as this end reads it.
/// </summary>
/// <remarks>
/// The WebSocket itself is .NET's (<see cref="WebSocket.CreateFromStream(Stream, WebSocketCreationOptions)"/>): it
/// answers pings with pongs while a receive is pending, and sends its own pings every
/// <see cref="WebSocketCreationOptions.KeepAliveInterval"/>.
/// </remarks>
public sealed class RawWebSocketPeer : IAsyncDisposable
{
    private readonly TcpClient _tcp;

    private RawWebSocketPeer(TcpClient tcp, FrameCountingStream stream, WebSocket socket, string requestHead)
    {
        _tcp = tcp;
        Incoming = stream;
        Socket = socket;
        RequestHead = requestHead;
    }

    public WebSocket Socket { get; }

    /// <summary>Counts the frames read from the other end.</summary>
    public FrameCountingStream Incoming { get; }

    /// <summary>The upgrade request (for a peer accepted by <see cref="Listener"/>; empty for a dialled one).</summary>
    public string RequestHead { get; }

    /// <summary>Dials <paramref name="uri"/> (ws://host:port/path?query) and upgrades with the given extra headers.</summary>
    /// <param name="uri">Where to connect.</param>
    /// <param name="headers">Extra request headers.</param>
    /// <param name="keepAliveInterval">How often to send keep-alive frames.</param>
    /// <param name="keepAliveTimeout">
    /// With a timeout, the keep-alive frames are pings that the other end must answer in time (else this end aborts);
    /// without one, they are unsolicited pongs.
    /// </param>
    public static async Task<RawWebSocketPeer> ConnectAsync(Uri uri, IEnumerable<KeyValuePair<string, string>> headers, TimeSpan keepAliveInterval, TimeSpan? keepAliveTimeout = null)
    {
        ArgumentNullException.ThrowIfNull(uri);
        ArgumentNullException.ThrowIfNull(headers);
        var tcp = new TcpClient();
        await tcp.ConnectAsync(uri.Host, uri.Port).DefaultTimeout();
        var stream = tcp.GetStream();
        var key = Convert.ToBase64String(RandomNumberGenerator.GetBytes(16));
        var request = new StringBuilder()
            .Append("GET ").Append(uri.PathAndQuery).Append(" HTTP/1.1\r\n")
            .Append("Host: ").Append(uri.Authority).Append("\r\n")
            .Append("Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n")
            .Append("Sec-WebSocket-Key: ").Append(key).Append("\r\n");
        foreach (var (name, value) in headers)
        {
            request.Append(name).Append(": ").Append(value).Append("\r\n");
        }

        await stream.WriteAsync(Encoding.ASCII.GetBytes(request.Append("\r\n").ToString())).AsTask().DefaultTimeout();
        var response = await ReadHeadAsync(stream).DefaultTimeout();
        if (!response.StartsWith("HTTP/1.1 101", StringComparison.Ordinal))
        {
            tcp.Dispose();
            throw new InvalidOperationException("the upgrade was refused: " + response);
        }

        var counting = new FrameCountingStream(stream);
        var socket = WebSocket.CreateFromStream(counting, Options(isServer: false, keepAliveInterval, keepAliveTimeout));
        return new RawWebSocketPeer(tcp, counting, socket, "");
    }

    private static WebSocketCreationOptions Options(bool isServer, TimeSpan keepAliveInterval, TimeSpan? keepAliveTimeout) => new()
    {
        IsServer = isServer,
        KeepAliveInterval = keepAliveInterval,
        KeepAliveTimeout = keepAliveTimeout ?? Timeout.InfiniteTimeSpan,
    };

    /// <summary>Reads an HTTP head byte by byte up to the blank line, so that no frame byte is consumed.</summary>
    private static async Task<string> ReadHeadAsync(Stream stream)
    {
        var head = new StringBuilder();
        var one = new byte[1];
        while (!head.ToString().EndsWith("\r\n\r\n", StringComparison.Ordinal))
        {
            if (await stream.ReadAsync(one) == 0)
            {
                throw new IOException("the connection ended inside the HTTP head: " + head);
            }

            head.Append((char)one[0]);
        }

        return head.ToString();
    }

    /// <summary>Receives one whole message (the peer's own pending receive is what answers pings).</summary>
    public async Task<(WebSocketMessageType Type, byte[] Data)> ReceiveAsync(CancellationToken cancellationToken)
    {
        var buffer = new byte[128 * 1024];
        using var data = new MemoryStream();
        while (true)
        {
            var result = await Socket.ReceiveAsync(buffer.AsMemory(), cancellationToken);
            data.Write(buffer, 0, result.Count);
            if (result.MessageType == WebSocketMessageType.Close || result.EndOfMessage)
            {
                return (result.MessageType, data.ToArray());
            }
        }
    }

    public ValueTask DisposeAsync()
    {
        Socket.Abort();
        Socket.Dispose();
        _tcp.Dispose();
        return ValueTask.CompletedTask;
    }

    /// <summary>A loopback TCP listener that completes WebSocket upgrades by hand (a stand-in for a router).</summary>
    public sealed class Listener : IDisposable
    {
        private readonly TcpListener _listener = new(IPAddress.Loopback, 0);

        public Listener() => _listener.Start();

        /// <summary>ws://127.0.0.1:port</summary>
        public Uri Uri => new($"ws://127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}");

        /// <summary>
        /// Accepts the next connection and answers its upgrade with 101, the given subprotocol (if the client asked for
        /// it) and the given extra response headers.
        /// </summary>
        public async Task<RawWebSocketPeer> AcceptAsync(string? subProtocol, IEnumerable<KeyValuePair<string, string>> responseHeaders, TimeSpan keepAliveInterval, TimeSpan? keepAliveTimeout = null)
        {
            ArgumentNullException.ThrowIfNull(responseHeaders);
            var tcp = await _listener.AcceptTcpClientAsync().DefaultTimeout();
            var stream = tcp.GetStream();
            var head = await ReadHeadAsync(stream).DefaultTimeout();
            string? key = null;
            var protocols = new List<string>();
            foreach (var line in head.Split("\r\n"))
            {
                var colon = line.IndexOf(':', StringComparison.Ordinal);
                if (colon <= 0)
                {
                    continue;
                }

                var name = line[..colon].Trim();
                var value = line[(colon + 1)..].Trim();
                if (name.Equals("Sec-WebSocket-Key", StringComparison.OrdinalIgnoreCase))
                {
                    key = value;
                }
                else if (name.Equals("Sec-WebSocket-Protocol", StringComparison.OrdinalIgnoreCase))
                {
                    protocols.AddRange(value.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries));
                }
            }

#pragma warning disable CA5350 // RFC 6455 §4.2.2 fixes SHA-1 for Sec-WebSocket-Accept
            var accept = Convert.ToBase64String(SHA1.HashData(Encoding.ASCII.GetBytes(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")));
#pragma warning restore CA5350
            var response = new StringBuilder("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n")
                .Append("Sec-WebSocket-Accept: ").Append(accept).Append("\r\n");
            if (subProtocol is not null && protocols.Contains(subProtocol))
            {
                response.Append("Sec-WebSocket-Protocol: ").Append(subProtocol).Append("\r\n");
            }

            foreach (var (name, value) in responseHeaders)
            {
                response.Append(name).Append(": ").Append(value).Append("\r\n");
            }

            await stream.WriteAsync(Encoding.ASCII.GetBytes(response.Append("\r\n").ToString())).AsTask().DefaultTimeout();
            var counting = new FrameCountingStream(stream);
            var socket = WebSocket.CreateFromStream(counting, Options(isServer: true, keepAliveInterval, keepAliveTimeout));
            return new RawWebSocketPeer(tcp, counting, socket, head);
        }

        public void Dispose() => _listener.Stop();
    }
}

/// <summary>
/// A stream that parses the WebSocket frames read through it and counts pings, pongs and the other frames, so a test
/// can wait for "the other end has sent N pings" without sleeping.
/// </summary>
public sealed class FrameCountingStream(Stream inner) : Stream
{
    private readonly Lock _lock = new();
    private readonly List<(Func<FrameCountingStream, bool> Condition, TaskCompletionSource Done)> _waiters = [];
    private readonly byte[] _header = new byte[14];
    private int _headerLength;
    private long _payloadLeft;
    private int _pings;
    private int _pongs;
    private int _dataFrames;

    /// <summary>Ping frames read so far.</summary>
    public int Pings => Volatile.Read(ref _pings);

    /// <summary>Pong frames read so far.</summary>
    public int Pongs => Volatile.Read(ref _pongs);

    /// <summary>Text, binary, continuation and close frames read so far.</summary>
    public int DataFrames => Volatile.Read(ref _dataFrames);

    /// <summary>Completes once <paramref name="condition"/> holds (checked after each read).</summary>
    public Task WhenAsync(Func<FrameCountingStream, bool> condition)
    {
        ArgumentNullException.ThrowIfNull(condition);
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_lock)
        {
            if (condition(this))
            {
                return Task.CompletedTask;
            }

            _waiters.Add((condition, done));
        }

        return done.Task;
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        var n = await inner.ReadAsync(buffer, cancellationToken);
        Observe(buffer.Span[..n]);
        return n;
    }

    public override int Read(byte[] buffer, int offset, int count)
    {
        var n = inner.Read(buffer, offset, count);
        Observe(buffer.AsSpan(offset, n));
        return n;
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    private void Observe(ReadOnlySpan<byte> bytes)
    {
        if (bytes.IsEmpty)
        {
            return;
        }

        lock (_lock)
        {
            while (!bytes.IsEmpty)
            {
                if (_payloadLeft > 0)
                {
                    var skip = (int)Math.Min(_payloadLeft, bytes.Length);
                    _payloadLeft -= skip;
                    bytes = bytes[skip..];
                    continue;
                }

                _header[_headerLength++] = bytes[0];
                bytes = bytes[1..];
                if (_headerLength < 2)
                {
                    continue;
                }

                var lengthCode = _header[1] & 0x7F;
                var needed = 2 + (lengthCode == 126 ? 2 : lengthCode == 127 ? 8 : 0) + ((_header[1] & 0x80) != 0 ? 4 : 0);
                if (_headerLength < needed)
                {
                    continue;
                }

                _payloadLeft = lengthCode switch
                {
                    126 => (_header[2] << 8) | _header[3],
                    127 => (long)System.Buffers.Binary.BinaryPrimitives.ReadUInt64BigEndian(_header.AsSpan(2, 8)),
                    _ => lengthCode,
                };
                _headerLength = 0;
                switch (_header[0] & 0x0F)
                {
                    case 0x9:
                        _pings++;
                        break;
                    case 0xA:
                        _pongs++;
                        break;
                    default:
                        _dataFrames++;
                        break;
                }
            }

            for (var i = _waiters.Count - 1; i >= 0; i--)
            {
                if (_waiters[i].Condition(this))
                {
                    _waiters[i].Done.TrySetResult();
                    _waiters.RemoveAt(i);
                }
            }
        }
    }

    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => true;

    public override long Length => throw new NotSupportedException();

    public override long Position
    {
        get => throw new NotSupportedException();
        set => throw new NotSupportedException();
    }

    public override void Flush() => inner.Flush();

    public override Task FlushAsync(CancellationToken cancellationToken) => inner.FlushAsync(cancellationToken);

    public override void Write(byte[] buffer, int offset, int count) => inner.Write(buffer, offset, count);

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        inner.WriteAsync(buffer, offset, count, cancellationToken);

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default) =>
        inner.WriteAsync(buffer, cancellationToken);

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            inner.Dispose();
        }

        base.Dispose(disposing);
    }
}
