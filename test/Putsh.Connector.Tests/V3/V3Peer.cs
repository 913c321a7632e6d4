using System.Net.WebSockets;
using System.Runtime.CompilerServices;
using System.Text;
using System.Threading.Channels;
using Putsh.Tests.Common;

namespace Putsh.Connector.Tests.V3;

/// <summary>
/// The router's end of one cranker_3.0 socket, driven by the test. A background loop reads every message the
/// connector sends into a queue (the connector's keep-alive pings are answered while it does); the test takes them
/// one at a time, and each one taken is also filed under its request id.
/// </summary>
internal sealed class V3Peer
{
    private readonly Channel<V3Message> _received = Channel.CreateUnbounded<V3Message>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
    private readonly SemaphoreSlim _sendLock = new(1, 1);
    private readonly Dictionary<int, V3Exchange> _exchanges = [];
    private readonly List<V3Message> _log = [];
    private long _sequence;

    public V3Peer(RouterSocket socket)
    {
        Socket = socket;
        _ = Task.Run(PumpAsync);
    }

    public RouterSocket Socket { get; }

    public Handshake Handshake => Socket.Handshake;

    public WebSocketState State => Socket.WebSocket.State;

    /// <summary>Every message taken so far, in arrival order.</summary>
    public IReadOnlyList<V3Message> Log => _log;

    public V3Exchange Exchange(int id)
    {
        if (!_exchanges.TryGetValue(id, out var exchange))
        {
            exchange = new V3Exchange(id);
            _exchanges[id] = exchange;
        }

        return exchange;
    }

    public bool HasExchange(int id) => _exchanges.ContainsKey(id);

    private async Task PumpAsync()
    {
        var webSocket = Socket.WebSocket;
        var buffer = new byte[128 * 1024];
        try
        {
            while (true)
            {
                using var data = new MemoryStream();
                while (true)
                {
                    var result = await webSocket.ReceiveAsync(buffer.AsMemory(), CancellationToken.None);
                    if (result.MessageType == WebSocketMessageType.Close)
                    {
                        // A router answers the connector's close (§4.1, §5.8).
                        if (webSocket.State == WebSocketState.CloseReceived)
                        {
                            await webSocket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "", CancellationToken.None);
                        }

                        _received.Writer.TryWrite(new V3Message(Interlocked.Increment(ref _sequence), WebSocketMessageType.Close, [], webSocket.CloseStatus, webSocket.CloseStatusDescription));
                        _received.Writer.TryComplete();
                        Socket.Release();
                        return;
                    }

                    data.Write(buffer, 0, result.Count);
                    if (result.EndOfMessage)
                    {
                        _received.Writer.TryWrite(new V3Message(Interlocked.Increment(ref _sequence), result.MessageType, data.ToArray(), null, null));
                        break;
                    }
                }
            }
        }
        catch (Exception ex)
        {
            _received.Writer.TryComplete(ex);
        }
    }

    /// <summary>The next message from the connector.</summary>
    public async Task<V3Message> NextAsync([CallerFilePath] string file = "", [CallerLineNumber] int line = 0)
    {
        var message = await _received.Reader.ReadAsync().AsTask().DefaultTimeout(file, line);
        _log.Add(message);
        if (message.IsFrame)
        {
            Exchange(message.Id).Add(message);
        }

        return message;
    }

    /// <summary>
    /// True when a message arrives within <paramref name="window"/>. Consumes nothing, so a later
    /// <see cref="NextAsync"/> still sees it. Only for "the connector sends nothing more" checks, which cannot be
    /// made without some bounded wait.
    /// </summary>
    public async Task<bool> AnythingWithinAsync(TimeSpan window)
    {
        try
        {
            return await _received.Reader.WaitToReadAsync().AsTask().WaitAsync(window);
        }
        catch (TimeoutException)
        {
            return false;
        }
    }

    /// <summary>Reads, acknowledging like a router (§5.6), until every one of <paramref name="ids"/> has ended.</summary>
    public async Task ReadUntilEndedAsync(IReadOnlyCollection<int> ids, bool acknowledge = true, [CallerFilePath] string file = "", [CallerLineNumber] int line = 0)
    {
        while (!ids.All(id => HasExchange(id) && Exchange(id).Ended))
        {
            var message = await NextAsync(file, line);
            Assert.False(message.IsClose, $"the socket closed before streams {string.Join(",", ids)} ended: {string.Join("; ", _log)}");
            if (acknowledge)
            {
                await AcknowledgeAsync(message, file, line);
            }
        }
    }

    public async Task<V3Exchange> ReadUntilEndedAsync(int id, bool acknowledge = true, [CallerFilePath] string file = "", [CallerLineNumber] int line = 0)
    {
        await ReadUntilEndedAsync([id], acknowledge, file, line);
        return Exchange(id);
    }

    /// <summary>
    /// What mu does (§5.6): HEADER acknowledged on receipt, non-empty DATA after it was written to the client. An
    /// acknowledgement that finds the socket already closed (the connector may close right after a stream's last
    /// message, §5.7) is dropped, as a router drops it.
    /// </summary>
    public async Task AcknowledgeAsync(V3Message message, [CallerFilePath] string file = "", [CallerLineNumber] int line = 0)
    {
        if (!(message.IsFrame && (message.Type == V3Wire.Header || (message.Type == V3Wire.Data && message.Payload.Length > 0))))
        {
            return;
        }

        try
        {
            await SendAsync(V3Wire.WindowUpdateMessage(message.Id, message.Payload.Length), file, line);
        }
        catch (WebSocketException) when (State != WebSocketState.Open)
        {
        }
    }

    /// <summary>Reads the next message and checks it is a close; returns it.</summary>
    public async Task<V3Message> ExpectCloseAsync([CallerFilePath] string file = "", [CallerLineNumber] int line = 0)
    {
        var message = await NextAsync(file, line);
        Assert.True(message.IsClose, $"expected a close, got {message}; log: {string.Join("; ", _log)}");
        return message;
    }

    public Task SendAsync(byte[] message, [CallerFilePath] string file = "", [CallerLineNumber] int line = 0) =>
        SendCoreAsync(message, WebSocketMessageType.Binary).DefaultTimeout(file, line);

    public Task SendTextAsync(string text, [CallerFilePath] string file = "", [CallerLineNumber] int line = 0) =>
        SendCoreAsync(Encoding.UTF8.GetBytes(text), WebSocketMessageType.Text).DefaultTimeout(file, line);

    public Task SendHeaderAsync(int id, byte flags, string text, [CallerFilePath] string file = "", [CallerLineNumber] int line = 0) =>
        SendAsync(V3Wire.HeaderMessage(id, flags, text), file, line);

    /// <summary>A bodiless request head in one HEADER with END_HEADER|END_STREAM (0x05), as mu sends it.</summary>
    public Task SendGetAsync(int id, string path, [CallerFilePath] string file = "", [CallerLineNumber] int line = 0) =>
        SendHeaderAsync(id, V3Wire.EndHeader | V3Wire.EndStream, $"GET {path} HTTP/1.1\nHost:r\nvia:HTTP/1.1 muc\n\n", file, line);

    public Task SendDataAsync(int id, byte flags, byte[] payload, [CallerFilePath] string file = "", [CallerLineNumber] int line = 0) =>
        SendAsync(V3Wire.DataMessage(id, flags, payload), file, line);

    public Task SendWindowUpdateAsync(int id, int consumed, [CallerFilePath] string file = "", [CallerLineNumber] int line = 0) =>
        SendAsync(V3Wire.WindowUpdateMessage(id, consumed), file, line);

    public Task SendRstAsync(int id, int code, string message, [CallerFilePath] string file = "", [CallerLineNumber] int line = 0) =>
        SendAsync(V3Wire.RstMessage(id, code, message), file, line);

    /// <summary>Starts the router's side of a closing handshake; the connector's answer arrives as a close message.</summary>
    public async Task CloseOutputAsync(WebSocketCloseStatus status, string reason, [CallerFilePath] string file = "", [CallerLineNumber] int line = 0)
    {
        await _sendLock.WaitAsync().DefaultTimeout(file, line);
        try
        {
            await Socket.WebSocket.CloseOutputAsync(status, reason, CancellationToken.None).DefaultTimeout(file, line);
        }
        finally
        {
            _sendLock.Release();
        }
    }

    private async Task SendCoreAsync(byte[] data, WebSocketMessageType type)
    {
        await _sendLock.WaitAsync();
        try
        {
            await Socket.WebSocket.SendAsync(data, type, endOfMessage: true, CancellationToken.None);
        }
        finally
        {
            _sendLock.Release();
        }
    }
}
