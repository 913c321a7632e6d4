using System.Collections.Concurrent;
using System.Net.WebSockets;
using Putsh.Protocol.Transport;

namespace Putsh.Protocol.V3;

/// <summary>Which end of a cranker_3.0 session this is: it decides who opens streams and which heads are acknowledged.</summary>
internal enum V3Role
{
    /// <summary>Opens a stream per client request (§5.2) and receives response heads.</summary>
    Router,

    /// <summary>Has streams opened by the router's HEADER messages and receives request heads.</summary>
    Connector,
}

/// <summary>How a session ended, as the streams still open on it learn it (§5.7).</summary>
internal enum V3SessionEnd
{
    /// <summary>The peer closed with 1000: every open stream completes normally.</summary>
    Completed,

    /// <summary>The peer closed with another code.</summary>
    PeerError,

    /// <summary>The connection broke without a close handshake, or was aborted.</summary>
    Lost,

    /// <summary>The peer broke the protocol; this end closed with 1002 or 1009.</summary>
    ProtocolError,
}

/// <summary>One stream of a <see cref="V3Session"/>, as the session's receive loop sees it. Each call is made on the receive loop and must not block.</summary>
internal interface IV3Stream
{
    /// <summary>A HEADER piece arrived (already acknowledged when heads are): its UTF-8 payload, valid until the call returns.</summary>
    void OnHeadPiece(ReadOnlySpan<byte> utf8Piece, byte flags);

    /// <summary>DATA arrived; the stream takes what it needs (valid until it returns) and acknowledges it once consumed (§5.6).</summary>
    void OnData(V3Payload payload, bool endStream);

    /// <summary>The peer reset the stream (§5.5); the session has already forgotten it.</summary>
    void OnReset(int code, string message);

    /// <summary>A WINDOW_UPDATE for this stream (§5.6).</summary>
    void OnWindowUpdate(int consumed);

    /// <summary>The session ended with this stream still open (§5.7, §5.8).</summary>
    void OnSessionEnded(V3SessionEnd end, string? detail);
}

/// <summary>Settings a session is made with: what the two ends agreed, and the limits this end applies.</summary>
internal sealed class V3SessionSettings
{
    /// <summary>Each stream's flow-control window: 64 KiB (§5.6), or what the <c>flow-window</c> extension agreed.</summary>
    public int FlowWindow { get; init; } = V3Frame.HighWatermark;

    /// <summary>Which HEADER messages are acknowledged and counted (§5.3, §5.6).</summary>
    public HeadAcks HeadAcks { get; init; } = HeadAcks.Both;

    /// <summary>The <c>trailers</c> extension was agreed (docs/protocol.md §12.8): a HEADER after a complete head is a trailer section.</summary>
    public bool Trailers { get; init; }

    /// <summary>Streams this end opens at once (<see cref="V3Session.TryOpen"/>); the router's limit. A connector takes what the router sends.</summary>
    public int MaxStreams { get; init; } = 1000;

    /// <summary>Largest message accepted; a larger one closes the session with 1009.</summary>
    public int MaxMessage { get; init; } = V3MessageReader.DefaultMaxMessage;

    /// <summary>Messages for streams this end does not have that are tolerated before the session is closed with 1002.</summary>
    public int MaxStrays { get; init; } = 256;
}

/// <summary>
/// One cranker_3.0 session (§5) on one WebSocket, the same at both ends: the receive loop, the stream table,
/// dispatch of each message to its stream, acknowledgement of heads, the close handshake and a graceful close once
/// idle. The router and the connector derive from it and add only what a stream is connected to.
/// </summary>
/// <remarks>
/// The receive loop never waits for a stream's consumer: a stream is handed each message and queues what it must,
/// and acknowledgements are queued on the socket without waiting for room, so a slow client or target holds up only
/// its own stream, and two ends that both stop reading cannot deadlock each other through their acknowledgements.
/// </remarks>
internal abstract class V3Session : IDisposable
{
    private readonly WebSocket _socket;
    private readonly V3Role _role;

    // Sized for the usual handful of streams: the default sizing costs about 0.5 KB per idle socket.
    private readonly ConcurrentDictionary<int, IV3Stream> _streams = new(concurrencyLevel: 1, capacity: 3);
    private readonly bool _ackInboundHeads;
    private int _lastId;
    private int _strayAllowance;
    private volatile bool _ended;
    private volatile bool _closingWhenIdle;
    private WebSocketCloseStatus _idleStatus;
    private string _idleReason = "";
    private int _closeStarted;
    private int _disposed;

    protected V3Session(WebSocket socket, V3Role role, V3SessionSettings settings, TimeProvider time)
    {
        _socket = socket;
        _role = role;
        Settings = settings;
        Time = time;
        _strayAllowance = settings.MaxStrays;
        _ackInboundHeads = (settings.HeadAcks & (role == V3Role.Router ? HeadAcks.Response : HeadAcks.Request)) != 0;
        Sender = new V3Sender(new SendGate(socket));
    }

    public V3SessionSettings Settings { get; }

    /// <summary>Each stream's flow-control window (§5.6).</summary>
    public int FlowWindow => Settings.FlowWindow;

    /// <summary>Which HEADER messages are acknowledged and counted (§5.3, §5.6).</summary>
    public HeadAcks HeadAcks => Settings.HeadAcks;

    /// <summary>True when the <c>trailers</c> extension was agreed on this socket (docs/protocol.md §12.8).</summary>
    public bool Trailers => Settings.Trailers;

    /// <summary>This end's clock.</summary>
    public TimeProvider Time { get; }

    public V3Sender Sender { get; }

    /// <summary>Streams open now.</summary>
    public int InFlight => _streams.Count;

    /// <summary>Room for one more stream.</summary>
    public bool HasRoom => _streams.Count < Settings.MaxStreams;

    /// <summary>The receive loop has ended, or the peer's close arrived: no new streams.</summary>
    public bool HasEnded => _ended;

    /// <summary>Closing once idle (a drain or a graceful stop): no new streams are taken.</summary>
    public bool IsClosingWhenIdle => _closingWhenIdle;

    /// <summary>The close code the peer sent, once it has closed.</summary>
    public WebSocketCloseStatus? RemoteCloseStatus => _socket.CloseStatus;

    /// <summary>Opens a stream from this end and gives it its id (1, 2, 3, … per session, §5.2); false if the session can take no more.</summary>
    public bool TryOpen(IV3Stream stream, out int id)
    {
        id = 0;
        if (_streams.Count >= Settings.MaxStreams || _ended || _closingWhenIdle)
        {
            return false;
        }

        id = Interlocked.Increment(ref _lastId);
        if (id <= 0)
        {
            return false;
        }

        _streams[id] = stream;
        if (_ended)
        {
            // The receive loop ended meanwhile and may have missed this stream: take it back.
            _streams.TryRemove(id, out _);
            return false;
        }

        return true;
    }

    /// <summary>The stream is finished at this end; later messages for its id are ignored (§5.2).</summary>
    public void Forget(int id)
    {
        if (_streams.TryRemove(id, out _))
        {
            // The peer may still send for it until it reads our reset or end: allow for that.
            var allowance = Volatile.Read(ref _strayAllowance);
            if (allowance < 4096)
            {
                Interlocked.CompareExchange(ref _strayAllowance, Math.Min(allowance + 64, 4096), allowance);
            }

            CloseIfIdle();
        }
    }

    /// <summary>
    /// Takes no new streams and closes with <paramref name="status"/> once the last open stream has ended (now, if
    /// none is open): deregistration at the router (§1.9), a graceful stop at the connector (§5.7).
    /// </summary>
    public Task CloseWhenIdleAsync(WebSocketCloseStatus status, string reason)
    {
        _idleStatus = status;
        _idleReason = reason;
        _closingWhenIdle = true;
        return _streams.IsEmpty ? CloseOnceAsync(status, reason) : Task.CompletedTask;
    }

    /// <summary>Closes this end now, after anything already queued (a close frame is sent once; later calls do nothing).</summary>
    public Task CloseAsync(WebSocketCloseStatus status, string reason) => CloseOnceAsync(status, reason);

    /// <summary>Drops the connection without a close handshake.</summary>
    public void Abort()
    {
        if (Volatile.Read(ref _disposed) == 0)
        {
            _socket.Abort();
        }
    }

    /// <summary>Runs the receive loop until the session ends; then every stream still open learns how. Never throws.</summary>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        using var reader = new V3MessageReader(Settings.MaxMessage);
        var end = V3SessionEnd.Lost;
        string? detail = null;
        WebSocketCloseStatus? violation = null;
        try
        {
            while (true)
            {
                var type = await reader.ReceiveAsync(_socket, cancellationToken).ConfigureAwait(false);
                if (type == WebSocketMessageType.Close)
                {
                    // No new stream from now on, even while the close is echoed.
                    _ended = true;

                    // 1000 completes every open stream normally, as mu does (§5.7); anything else fails them.
                    end = _socket.CloseStatus == WebSocketCloseStatus.NormalClosure ? V3SessionEnd.Completed : V3SessionEnd.PeerError;
                    detail = $"close {(int?)_socket.CloseStatus} {_socket.CloseStatusDescription}";
                    if (_socket.State == WebSocketState.CloseReceived)
                    {
                        Interlocked.Exchange(ref _closeStarted, 1);
                        await Sender.Gate.CloseAsync(WebSocketCloseStatus.NormalClosure, "", TimeSpan.FromSeconds(5), Time).ConfigureAwait(false);
                    }

                    break;
                }

                if (type == WebSocketMessageType.Binary)
                {
                    Dispatch(reader);
                }

                // Text messages mean nothing in cranker_3.0 and are ignored (§5.1).
            }
        }
        catch (Exception ex) when (ex is InvalidDataException or V3ProtocolViolation)
        {
            // The peer broke the protocol: this session goes (1009 for a message too large, 1002 otherwise).
            end = V3SessionEnd.ProtocolError;
            detail = ex.Message;
            violation = ex is InvalidDataException ? WebSocketCloseStatus.MessageTooBig : WebSocketCloseStatus.ProtocolError;
        }
        catch (Exception ex)
        {
            end = V3SessionEnd.Lost;
            detail = ex.Message;
        }
        finally
        {
            _ended = true;
        }

        if (violation is { } status)
        {
            OnProtocolViolation(detail!);
            try
            {
                Interlocked.Exchange(ref _closeStarted, 1);
                await Sender.Gate.CloseAsync(status, status == WebSocketCloseStatus.MessageTooBig ? "Message too big" : "Protocol error", TimeSpan.FromSeconds(5), Time).ConfigureAwait(false);
            }
            catch (Exception)
            {
                // Gone already: aborted below either way.
            }

            // So that the peer reads our close, and learns why, before the abort below.
            await WebSocketClose.DrainUntilClosedAsync(_socket, TimeSpan.FromSeconds(2), Time).ConfigureAwait(false);
        }

        // On any close or failure of the session every stream still open ends (§5.7, §5.8).
        foreach (var (id, stream) in _streams)
        {
            if (_streams.TryRemove(id, out _))
            {
                stream.OnSessionEnded(end, detail);
            }
        }

        OnEnded(end, (int?)_socket.CloseStatus, detail);
        Abort();
    }

    /// <summary>A HEADER arrived for an id that has no stream. The connector opens one (§5.2); the router has none to open.</summary>
    /// <returns>The new stream, already acknowledged and then handed the piece; null to count the message as a stray.</returns>
    protected virtual IV3Stream? OpenInbound(int id) => null;

    /// <summary>The peer broke the protocol (logged by the derived class); the session closes with 1002 or 1009 next.</summary>
    protected virtual void OnProtocolViolation(string detail)
    {
    }

    /// <summary>The session has ended and its streams have been told.</summary>
    protected virtual void OnEnded(V3SessionEnd end, int? closeCode, string? detail)
    {
    }

    /// <summary>True once this end's close has started, after which nothing more may be sent (RFC 6455 §5.5.1).</summary>
    protected bool CloseStarted => Volatile.Read(ref _closeStarted) == 1;

    private void Dispatch(V3MessageReader reader)
    {
        var message = reader.Message;
        if (!V3Frame.TryReadPrefix(message.Span, out var type, out var flags, out var id))
        {
            return; // too short to mean anything: ignored, like an unknown type
        }

        if (type is not (V3Type.Header or V3Type.Data or V3Type.RstStream or V3Type.WindowUpdate))
        {
            return; // unknown types are ignored for forward compatibility (§5.1)
        }

        var payload = message[V3Frame.PrefixLength..];
        if (!_streams.TryGetValue(id, out var stream))
        {
            stream = type == V3Type.Header ? OpenStreamFor(id) : null;
            if (stream is null)
            {
                if (type == V3Type.Header && _role == V3Role.Connector)
                {
                    return; // a request that crossed our close: never started, and the router sends it elsewhere
                }

                if (Interlocked.Decrement(ref _strayAllowance) < 0)
                {
                    throw new V3ProtocolViolation($"too many messages for streams this end does not have (the last for stream {id}; MaxStrayMessages)");
                }

                return;
            }
        }

        switch (type)
        {
            case V3Type.Header:
                // Acknowledged on receipt (§5.6), before anything acts on the head: a peer that never saw the
                // acknowledgement then knows the request was never taken.
                if (_ackInboundHeads)
                {
                    Sender.QueueWindowUpdate(id, payload.Length);
                }

                stream.OnHeadPiece(payload.Span, flags);
                break;
            case V3Type.Data:
                stream.OnData(new V3Payload(reader, V3Frame.PrefixLength), (flags & V3Flags.EndStream) != 0);
                break;
            case V3Type.RstStream:
                if (_streams.TryRemove(id, out _))
                {
                    var (code, text) = V3Frame.ReadRst(payload.Span);
                    stream.OnReset(code, text);
                    CloseIfIdle();
                }

                break;
            case V3Type.WindowUpdate:
                stream.OnWindowUpdate(V3Frame.ReadWindowUpdate(payload.Span));
                break;
        }
    }

    private IV3Stream? OpenStreamFor(int id)
    {
        // Our close has gone out, so nothing more may be sent: a request that crossed it is ignored.
        if (_role != V3Role.Connector || CloseStarted)
        {
            return null;
        }

        var stream = OpenInbound(id);
        if (stream is not null)
        {
            _streams[id] = stream;
        }

        return stream;
    }

    private void CloseIfIdle()
    {
        if (_closingWhenIdle && _streams.IsEmpty)
        {
            _ = CloseOnceAsync(_idleStatus, _idleReason);
        }
    }

    private Task CloseOnceAsync(WebSocketCloseStatus status, string reason) =>
        Interlocked.Exchange(ref _closeStarted, 1) == 0
            ? Sender.Gate.CloseAsync(status, reason, TimeSpan.FromSeconds(5), Time)
            : Task.CompletedTask;

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        Sender.Gate.Dispose();
        _socket.Dispose();
    }
}

/// <summary>The peer broke cranker_3.0 in a way that ends its session.</summary>
internal sealed class V3ProtocolViolation(string message) : Exception(message);
