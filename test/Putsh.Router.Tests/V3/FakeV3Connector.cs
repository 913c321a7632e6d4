using System.Buffers.Binary;
using System.Net.WebSockets;
using System.Text;
using System.Threading.Channels;
using Microsoft.Extensions.DependencyInjection;
using Putsh.Router.Routing;
using Putsh.Tests.Common;

namespace Putsh.Router.Tests.V3;

/// <summary>One whole WebSocket message as the fake connector received it.</summary>
internal sealed record WireMessage(WebSocketMessageType Type, byte[] Bytes)
{
    public override string ToString() => $"{Type} {Convert.ToHexString(Bytes.AsSpan(0, Math.Min(Bytes.Length, 64)))}{(Bytes.Length > 64 ? "…" : "")} ({Bytes.Length} bytes)";
}

/// <summary>
/// A hand-driven cranker_3.0 connector socket. A background loop reads every message the router sends into a queue
/// (so the socket also answers the router's pings while the test thinks); the test takes them one by one and
/// asserts their exact bytes, and decides every byte sent back. Every wait is bounded by
/// <see cref="TestTimeouts.Default"/>.
/// </summary>
internal sealed class FakeV3Connector : IAsyncDisposable
{
    private readonly Channel<WireMessage> _messages = Channel.CreateUnbounded<WireMessage>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _readLoop;

    private readonly HttpMessageInvoker _invoker;
    private readonly Func<System.Net.Sockets.Socket?> _tcp;

    private FakeV3Connector(ClientWebSocket socket, HttpMessageInvoker invoker, Func<System.Net.Sockets.Socket?> tcp)
    {
        Socket = socket;
        _invoker = invoker;
        _tcp = tcp;
        _readLoop = ReadLoopAsync();
    }

    public ClientWebSocket Socket { get; }

    /// <summary>The router's <c>Putsh-Extensions</c> answer, when extensions were offered.</summary>
    public string? AnsweredExtensions { get; private init; }

    /// <summary>
    /// Registers as jconn does (§1.2), offering only cranker_3.0 plus the legacy header, and the putsh
    /// <paramref name="extensions"/> if given.
    /// </summary>
    public static async Task<FakeV3Connector> ConnectAsync(Uri registerUri, string route, string? domain = null, string instanceId = "fake-v3", string? extensions = null)
    {
        var socket = new ClientWebSocket();
        if (extensions is not null)
        {
            socket.Options.SetRequestHeader("Putsh-Extensions", extensions);
            socket.Options.CollectHttpResponseDetails = true;
        }

        socket.Options.AddSubProtocol("cranker_3.0");
        socket.Options.SetRequestHeader("CrankerProtocol", "1.0");
        socket.Options.SetRequestHeader("Route", route);
        if (domain is not null)
        {
            socket.Options.SetRequestHeader("Domain", domain);
        }

        // Our own connection, so that LoseAfterSent can end it with a FIN behind everything already sent.
        System.Net.Sockets.Socket? tcp = null;
        var invoker = new HttpMessageInvoker(new SocketsHttpHandler
        {
            ConnectCallback = async (context, cancellationToken) =>
            {
                var connection = new System.Net.Sockets.Socket(System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp) { NoDelay = true };
                await connection.ConnectAsync(context.DnsEndPoint, cancellationToken);
                tcp = connection;
                return new System.Net.Sockets.NetworkStream(connection, ownsSocket: true);
            },
        });
        await socket.ConnectAsync(new Uri(registerUri, $"/register/?connectorInstanceID={Uri.EscapeDataString(instanceId)}&componentName=fake-v3"), invoker, TestTimeouts.Token()).DefaultTimeout();
        Assert.Equal("cranker_3.0", socket.SubProtocol);
        string? answered = null;
        if (socket.HttpResponseHeaders?.TryGetValue("Putsh-Extensions", out var values) == true)
        {
            answered = string.Join(", ", values);
        }

        socket.HttpResponseHeaders = null;
        return new FakeV3Connector(socket, invoker, () => tcp) { AnsweredExtensions = answered };
    }

    /// <summary>Connects and waits until the router put the socket in its cranker_3.0 pool.</summary>
    public static async Task<FakeV3Connector> ConnectAndWaitAsync(TestRouter router, string route, string? domain = null, string instanceId = "fake-v3", string? extensions = null)
    {
        var before = V3Count(router, domain ?? "*", route);
        var connector = await ConnectAsync(router.RegisterUri, route, domain, instanceId, extensions);
        await WaitUntilAsync(() => V3Count(router, domain ?? "*", route) == before + 1, $"v3 socket for {domain ?? "*"}/{route} registered");
        return connector;
    }

    /// <summary>Open cranker_3.0 sockets the router holds for a domain and route.</summary>
    public static int V3Count(TestRouter router, string domain, string route) =>
        router.Services.GetRequiredService<RouteTable>().V3Pools.FirstOrDefault(p => p.Domain == domain && p.Route == route)?.Count ?? 0;

    /// <summary>
    /// Waits for a condition on the router's own state (registration happens on the router's side after the 101 was
    /// sent, so it is not ordered with the client's connect). It only yields between checks: no fixed sleep.
    /// </summary>
    public static async Task WaitUntilAsync(Func<bool> condition, string what)
    {
        var deadline = DateTime.UtcNow + TestTimeouts.Default;
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "timed out waiting for: " + what);
            await Task.Yield();
        }
    }

    /// <summary>The next message of any type.</summary>
    public async Task<WireMessage> ReceiveAsync()
    {
        try
        {
            return await _messages.Reader.ReadAsync(TestTimeouts.Token()).AsTask().DefaultTimeout();
        }
        catch (ChannelClosedException)
        {
            throw new InvalidOperationException("the socket ended: no more messages");
        }
    }

    /// <summary>The next message, which must be binary.</summary>
    public async Task<byte[]> ReceiveBinaryAsync()
    {
        var message = await ReceiveAsync();
        Assert.True(message.Type == WebSocketMessageType.Binary, "expected a binary message, got " + message);
        return message.Bytes;
    }

    /// <summary>The next message, parsed; asserts it is binary and at least 6 bytes.</summary>
    public async Task<V3Message> ReceiveFrameAsync()
    {
        var bytes = await ReceiveBinaryAsync();
        return V3Message.Parse(bytes);
    }

    /// <summary>The next message of <paramref name="type"/>, passing over others (acknowledgements, say).</summary>
    public async Task<V3Message> ReceiveFrameAsync(byte type)
    {
        while (true)
        {
            var frame = await ReceiveFrameAsync();
            if (frame.Type == type)
            {
                return frame;
            }
        }
    }

    /// <summary>The next message must be exactly <paramref name="expected"/> (compared as hex for a readable failure).</summary>
    public async Task ExpectAsync(byte[] expected)
    {
        var bytes = await ReceiveBinaryAsync();
        Assert.Equal(Convert.ToHexString(expected), Convert.ToHexString(bytes));
    }

    /// <summary>Completes with true when a message is waiting, false when the socket ended and nothing is left.</summary>
    public Task<bool> WaitForMessageAsync() => _messages.Reader.WaitToReadAsync().AsTask();

    /// <summary>Takes a message only if one already arrived.</summary>
    public bool TryReceive(out WireMessage? message) => _messages.Reader.TryRead(out message);

    /// <summary>A message has arrived and not been taken yet.</summary>
    public bool HasPending => _messages.Reader.TryPeek(out _);

    /// <summary>Waits for the close frame the router sends or echoes.</summary>
    public async Task ExpectCloseAsync()
    {
        var message = await ReceiveAsync();
        Assert.True(message.Type == WebSocketMessageType.Close, "expected a close, got " + message);
    }

    public Task SendAsync(byte[] bytes) =>
        Socket.SendAsync(bytes, WebSocketMessageType.Binary, true, TestTimeouts.Token()).DefaultTimeout();

    public Task SendTextAsync(string text) =>
        Socket.SendAsync(Encoding.UTF8.GetBytes(text), WebSocketMessageType.Text, true, TestTimeouts.Token()).DefaultTimeout();

    /// <summary>Sends a close frame with this code; the receive loop still sees the router's echo.</summary>
    public Task CloseOutputAsync(WebSocketCloseStatus status, string reason) =>
        Socket.CloseOutputAsync(status, reason, TestTimeouts.Token()).DefaultTimeout();

    /// <summary>
    /// Loses the socket without a close frame, but only after the router can read everything sent so far: the TCP
    /// connection's send side ends (FIN) instead of being reset, since a reset may discard bytes the router has not read
    /// yet. (<see cref="ClientWebSocket.Abort"/> is the loss that may take those bytes with it.)
    /// </summary>
    public void LoseAfterSent() => _tcp()!.Shutdown(System.Net.Sockets.SocketShutdown.Send);

    private async Task ReadLoopAsync()
    {
        var buffer = new byte[V3Bytes.MaxMessage];
        try
        {
            while (true)
            {
                var length = 0;
                ValueWebSocketReceiveResult result;
                do
                {
                    if (length == buffer.Length)
                    {
                        Array.Resize(ref buffer, buffer.Length * 2);
                    }

                    // Unbounded on purpose: this loop lives as long as the socket and ends on close, error or dispose.
                    result = await Socket.ReceiveAsync(buffer.AsMemory(length), _stop.Token);
                    length += result.Count;
                }
                while (result.MessageType != WebSocketMessageType.Close && !result.EndOfMessage);

                _messages.Writer.TryWrite(new WireMessage(result.MessageType, buffer.AsSpan(0, length).ToArray()));
                if (result.MessageType == WebSocketMessageType.Close)
                {
                    _messages.Writer.TryComplete();
                    return;
                }
            }
        }
        catch (Exception ex)
        {
            _messages.Writer.TryComplete(ex);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        Socket.Abort();
        try
        {
            await _readLoop.DefaultTimeout();
        }
        catch (Exception)
        {
            // The loop ends with whatever the abort made of the pending receive.
        }

        Socket.Dispose();
        _invoker.Dispose();
        _stop.Dispose();
    }
}

/// <summary>A cranker_3.0 message taken apart: 6-byte prefix (§5.1) and payload.</summary>
internal sealed record V3Message(byte Type, byte Flags, int Id, byte[] Payload)
{
    public static V3Message Parse(byte[] bytes)
    {
        Assert.True(bytes.Length >= 6, $"a cranker_3.0 message has at least 6 bytes, got {Convert.ToHexString(bytes)}");
        return new V3Message(bytes[0], bytes[1], BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(2)), bytes[6..]);
    }

    public string Text => Encoding.UTF8.GetString(Payload);

    public override string ToString() => $"type {Type:X2} flags {Flags:X2} id {Id} payload {Payload.Length} bytes";
}

/// <summary>
/// cranker_3.0 messages built by hand from §5.1 (not with the product's own encoder, so a shared mistake cannot
/// hide).
/// </summary>
internal static class V3Bytes
{
    public const byte Data = 0x00;
    public const byte Header = 0x01;
    public const byte Rst = 0x03;
    public const byte WindowUpdate = 0x08;

    public const int MaxMessage = 256 * 1024;

    public static byte[] Prefix(byte type, byte flags, int id) =>
        [type, flags, (byte)(id >> 24), (byte)(id >> 16), (byte)(id >> 8), (byte)id];

    public static byte[] Message(byte type, byte flags, int id, ReadOnlySpan<byte> payload) => [.. Prefix(type, flags, id), .. payload];

    public static byte[] HeaderMessage(int id, byte flags, string text) => Message(Header, flags, id, Encoding.UTF8.GetBytes(text));

    public static byte[] DataMessage(int id, byte flags, ReadOnlySpan<byte> payload) => Message(Data, flags, id, payload);

    public static byte[] EndStream(int id) => Prefix(Data, 0x01, id);

    public static byte[] WindowUpdateMessage(int id, int consumed) =>
        Message(WindowUpdate, 0x00, id, [(byte)(consumed >> 24), (byte)(consumed >> 16), (byte)(consumed >> 8), (byte)consumed]);

    public static byte[] RstMessage(int id, int code, string message) =>
        Message(Rst, 0x00, id, [(byte)(code >> 24), (byte)(code >> 16), (byte)(code >> 8), (byte)code, .. Encoding.UTF8.GetBytes(message)]);

    /// <summary>Bytes from a hex dump like "01 05 00 00 00 01".</summary>
    public static byte[] Hex(string hex) => Convert.FromHexString(hex.Replace(" ", "", StringComparison.Ordinal).Replace("\n", "", StringComparison.Ordinal));
}
