using System.Buffers;
using System.Net.WebSockets;
using System.Text;
using Microsoft.Extensions.Logging;
using Putsh.Protocol.Transport;
using Putsh.Router.Routing;

namespace Putsh.Router.Sockets;

/// <summary>
/// One cranker_1.0 socket from a connector (§4). It sits idle in its route's pool until a request takes it, carries
/// exactly that one exchange, and is then closed; it is never reused (§4.6).
/// </summary>
internal sealed class RouterSocketV1 : IDisposable
{
    private const int StateIdle = 0;
    private const int StateAssigned = 1;
    private const int StateClosed = 2;

    private readonly WebSocket _socket;
    private readonly RouterOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly V1RoutePool _pool;
    private int _state;
    private volatile IV1Exchange? _exchange;
    private long _lastRead;
    private volatile bool _timedOut;
    private volatile bool _closedByRouter;
    private ITimer? _idleTimer;
    private readonly TaskCompletionSource _readsEnded = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public RouterSocketV1(WebSocket socket, ConnectorInfo connector, V1RoutePool pool, RouterOptions options, TimeProvider time, ILogger logger)
    {
        _socket = socket;
        Connector = connector;
        _pool = pool;
        _options = options;
        _time = time;
        _logger = logger;
        Sender = new SendGate(socket);
        _lastRead = time.GetTimestamp();
    }

    public ConnectorInfo Connector { get; }

    public string ConnectorInstanceId => Connector.InstanceId;

    public string Id { get; } = Guid.NewGuid().ToString("N");

    public SendGate Sender { get; }

    public bool IsIdle => Volatile.Read(ref _state) == StateIdle;

    /// <summary>The router's clock.</summary>
    public TimeProvider Time => _time;

    /// <summary>When bytes last arrived on the connection, where that is known.</summary>
    public Putsh.Protocol.WebSockets.ReadActivity? Activity { get; init; }

    /// <summary>Something (a pong, most likely) arrived recently enough for the connector to be thought alive.</summary>
    public bool IsResponsive => Activity is null || _options.EffectivePongTimeout is not { } limit || Activity.Silence < limit;

    /// <summary>Gives this socket its one request. False if it closed or was taken meanwhile.</summary>
    public bool TryAssign(IV1Exchange exchange)
    {
        _exchange = exchange;
        if (Interlocked.CompareExchange(ref _state, StateAssigned, StateIdle) != StateIdle)
        {
            _exchange = null;
            return false;
        }

        // Pings keep a live connector's socket from timing out (§1.6). Only when the idle timeout is shorter than
        // the ping interval can a live socket time out, and then only data counts: watch it while a request runs.
        if (_options.PingInterval == TimeSpan.Zero || _options.IdleTimeout < _options.PingInterval)
        {
            _idleTimer = _time.CreateTimer(static s => ((RouterSocketV1)s!).OnIdleTimeout(), this, _options.IdleTimeout, Timeout.InfiniteTimeSpan);
        }

        return true;
    }

    /// <summary>Closes the socket from the router's side (client gone: 1001, §4.6). Safe to call more than once.</summary>
    public Task CloseAsync(WebSocketCloseStatus status, string reason)
    {
        _closedByRouter = true;
        return Sender.CloseAsync(status, reason, TimeSpan.FromSeconds(5), _time);
    }

    public void Abort()
    {
        _closedByRouter = true;
        _socket.Abort();
    }

    /// <summary>Reads the socket until it ends. Runs for the socket's whole life, on the registration request.</summary>
    public async Task RunAsync(CancellationToken stopping)
    {
        // Rented when the first frame arrives: until then the socket waits in its pool with a zero-byte receive,
        // which holds no buffer, so thousands of idle sockets cost little (see V3MessageReader).
        byte[]? buffer = null;
        byte[]? text = null;
        var textLength = 0;
        SocketEnd end = SocketEnd.SocketLost;
        WebSocketCloseStatus? closeStatus = null;
        string? closeReason = null;
        Exception? error = null;
        var headReceived = false;
        try
        {
            while (true)
            {
                ValueWebSocketReceiveResult result;
                if (buffer is null)
                {
                    // Completes once a frame header is in (pings and pongs are handled inside), with Count 0.
                    result = await _socket.ReceiveAsync(Memory<byte>.Empty, stopping);
                    if (result.MessageType != WebSocketMessageType.Close)
                    {
                        buffer = ArrayPool<byte>.Shared.Rent(_options.BodyBufferSize);
                        if (!result.EndOfMessage)
                        {
                            continue; // now read the frame's payload into the buffer
                        }

                        // An empty message, already consumed: handled below like any other.
                    }
                }
                else
                {
                    result = await _socket.ReceiveAsync(buffer.AsMemory(), stopping);
                }

                Volatile.Write(ref _lastRead, _time.GetTimestamp());
                _idleTimer?.Change(_options.IdleTimeout, Timeout.InfiniteTimeSpan);

                if (result.MessageType == WebSocketMessageType.Close)
                {
                    // An idle socket takes no request from now on, even while the close is echoed.
                    Interlocked.CompareExchange(ref _state, StateClosed, StateIdle);
                    closeStatus = _socket.CloseStatus;
                    closeReason = _socket.CloseStatusDescription;
                    // 1000 ends the response. A close with no code at all is how some connectors (npm) end every
                    // response; we accept it as the end too, where mu fails the request (§4.6, §10). A body shorter
                    // than its content-length still fails: Kestrel aborts such a response.
                    end = closeStatus is WebSocketCloseStatus.NormalClosure or WebSocketCloseStatus.Empty ? SocketEnd.Completed : SocketEnd.ConnectorError;
                    if (_socket.State == WebSocketState.CloseReceived)
                    {
                        // Echo the close (§4.1).
                        await Sender.CloseAsync(WebSocketCloseStatus.NormalClosure, "", TimeSpan.FromSeconds(5), _time);
                    }

                    break;
                }

                var exchange = _exchange;
                if (exchange is null)
                {
                    // Anything but a close on an idle socket breaks the protocol (§4.4).
                    end = SocketEnd.ProtocolError;
                    closeReason = "message received on an idle socket";
                    await Sender.CloseAsync(WebSocketCloseStatus.ProtocolError, "Unexpected message before a request", TimeSpan.FromSeconds(5), _time);
                    break;
                }

                if (result.MessageType == WebSocketMessageType.Text)
                {
                    if (headReceived || textLength + result.Count > _options.MaxResponseHeadSize * 3)
                    {
                        end = SocketEnd.ProtocolError;
                        closeReason = headReceived ? "second response head" : "response head too large";
                        await Sender.CloseAsync(WebSocketCloseStatus.ProtocolError, closeReason, TimeSpan.FromSeconds(5), _time);
                        break;
                    }

                    text ??= ArrayPool<byte>.Shared.Rent(Math.Max(4096, result.Count));
                    if (text.Length < textLength + result.Count)
                    {
                        var bigger = ArrayPool<byte>.Shared.Rent((textLength + result.Count) * 2);
                        text.AsSpan(0, textLength).CopyTo(bigger);
                        ArrayPool<byte>.Shared.Return(text);
                        text = bigger;
                    }

                    buffer!.AsSpan(0, result.Count).CopyTo(text.AsSpan(textLength));
                    textLength += result.Count;
                    if (!result.EndOfMessage)
                    {
                        continue;
                    }

                    var head = Encoding.UTF8.GetString(text, 0, textLength);
                    textLength = 0;
                    if (head.Length > _options.MaxResponseHeadSize)
                    {
                        end = SocketEnd.ProtocolError;
                        closeReason = "response head too large";
                        await Sender.CloseAsync(WebSocketCloseStatus.MessageTooBig, closeReason, TimeSpan.FromSeconds(5), _time);
                        break;
                    }

                    headReceived = true;
                    await exchange.OnHeadAsync(head);
                }
                else if (result.Count > 0)
                {
                    // Zero-length frames carry nothing (§4.5). Partial frames are passed on as they come.
                    await exchange.OnBodyAsync(buffer!.AsMemory(0, result.Count));
                }
            }
        }
        catch (Exception ex)
        {
            error = ex;
            end = SocketEnd.SocketLost;
        }
        finally
        {
            Interlocked.Exchange(ref _state, StateClosed);
            _readsEnded.TrySetResult();
            _idleTimer?.Dispose();
            _pool.Remove(this);
            if (buffer is not null)
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }

            if (text is not null)
            {
                ArrayPool<byte>.Shared.Return(text);
            }
        }

        var current = _exchange;
        if (current is not null)
        {
            // Once the idle timer fired, the router ended the request, however the socket then finished: a connector
            // quick enough to answer the router's close (with 1000, say) before the abort must not turn the 504 into a 502.
            if (_timedOut || (end == SocketEnd.SocketLost && _time.GetElapsedTime(Volatile.Read(ref _lastRead)) >= _options.IdleTimeout))
            {
                end = SocketEnd.TimedOut;
            }
            else if (_closedByRouter && end != SocketEnd.Completed)
            {
                end = SocketEnd.ClosedByRouter;
            }

            current.OnEnd(end, closeStatus, closeReason, error);
        }

        RouterLog.SocketEnded(_logger, Connector.Route, Id, end, (int?)closeStatus, closeReason, error);
        if (_socket.State == WebSocketState.CloseSent)
        {
            // We closed first (protocol error): give the peer a moment to read our close and answer, because an
            // abort now could reset the connection before our close frame is read.
            await WebSocketClose.DrainUntilClosedAsync(_socket, TimeSpan.FromSeconds(2), _time);
        }

        _socket.Abort();
    }

    private void OnIdleTimeout()
    {
        _timedOut = true;
        _ = CloseThenAbortAsync();
    }

    private async Task CloseThenAbortAsync()
    {
        // A close handshake: the router's close, the connector's answer (read by the receive loop), then the
        // connection goes; a connector that does not answer within a second is cut off. Aborting straight after
        // sending would reset the connection under a close frame the connector has not read yet.
        await Sender.CloseAsync(WebSocketCloseStatus.EndpointUnavailable, "Timed out", TimeSpan.FromSeconds(1), _time);
        try
        {
            await _readsEnded.Task.WaitAsync(TimeSpan.FromSeconds(1), _time);
        }
        catch (TimeoutException)
        {
            // No answer: cut it off below.
        }

        _socket.Abort();
    }

    public void Dispose()
    {
        _idleTimer?.Dispose();
        Sender.Dispose();
        _socket.Dispose();
    }
}
