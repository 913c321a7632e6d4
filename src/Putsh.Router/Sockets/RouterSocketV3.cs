using System.Collections.Concurrent;
using System.Net.WebSockets;
using Microsoft.Extensions.Logging;
using Putsh.Protocol.Transport;
using Putsh.Protocol.V3;

namespace Putsh.Router.Sockets;

/// <summary>
/// One long-lived cranker_3.0 socket from a connector (§5): many requests at once, each a stream with its own
/// id and flow control. The receive loop never waits for a client: data is handed to the stream, which writes it
/// at the client's pace and acknowledges it after, so one slow client never holds up the other streams.
/// </summary>
internal sealed class RouterSocketV3 : IDisposable
{
    private readonly WebSocket _socket;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    // Sized for the usual handful of streams: the default sizing costs about 0.5 KB per idle socket.
    private readonly ConcurrentDictionary<int, IV3Stream> _streams = new(concurrencyLevel: 1, capacity: 3);
    private int _lastId;
    private volatile bool _closed;
    private int _strayAllowance = 256;

    public RouterSocketV3(WebSocket socket, ConnectorInfo connector, TimeProvider time, ILogger logger, bool webSockets = false, int flowWindow = 0, HeadAcks headAcks = HeadAcks.Both)
    {
        HeadAcks = headAcks;
        SupportsWebSockets = webSockets;
        FlowWindow = flowWindow > 0 ? flowWindow : V3Frame.HighWatermark;
        _socket = socket;
        Connector = connector;
        _time = time;
        _logger = logger;
        Sender = new V3Sender(new SendGate(socket));
    }

    public ConnectorInfo Connector { get; }

    /// <summary>Requests in flight at once on this socket (<see cref="RouterOptions.MaxStreamsPerSocket"/>).</summary>
    public int MaxStreams { get; init; } = 1000;

    /// <summary>Largest message accepted (<see cref="RouterOptions.MaxConnectorMessageSize"/>).</summary>
    public int MaxMessage { get; init; } = V3MessageReader.DefaultMaxMessage;

    /// <summary>Messages for unknown streams allowed before the socket is closed (<see cref="RouterOptions.MaxStrayMessages"/>).</summary>
    public int MaxStrays { get => _strayAllowance; init => _strayAllowance = value; }

    /// <summary>Room for one more stream.</summary>
    public bool HasRoom => _streams.Count < MaxStreams;

    /// <summary>The router's clock.</summary>
    public TimeProvider Time => _time;

    /// <summary>The connector negotiated the putsh <c>websocket</c> extension on this socket.</summary>
    public bool SupportsWebSockets { get; }

    /// <summary>Each stream's flow-control window: 64 KiB (§5.6), or what the <c>flow-window</c> extension agreed.</summary>
    public int FlowWindow { get; }

    /// <summary>Which HEADER messages are acknowledged and counted (§5.3, §5.6): fewer once the connector and this router agreed <c>no-head-ack</c> or <c>no-response-head-ack</c>.</summary>
    public HeadAcks HeadAcks { get; }

    public string Id { get; } = Guid.NewGuid().ToString("N");

    public V3Sender Sender { get; }

    /// <summary>False once the socket ended, or once it was taken out of rotation (deregistration).</summary>
    public bool IsUsable => !_closed && !Draining;

    /// <summary>When bytes last arrived on the connection, where that is known.</summary>
    public Putsh.Protocol.WebSockets.ReadActivity? Activity { get; init; }

    /// <summary>Silence after which the socket is passed over for new requests; null: never.</summary>
    public TimeSpan? PongTimeout { get; init; }

    /// <summary>Something (a message, a pong) arrived recently enough for the connector to be thought alive.</summary>
    public bool IsResponsive => Activity is null || PongTimeout is not { } limit || Activity.Silence < limit;

    /// <summary>The close code the connector sent, once it has closed.</summary>
    public WebSocketCloseStatus? RemoteCloseStatus => _socket.CloseStatus;

    /// <summary>Out of rotation: no new streams; the socket closes when its last stream ends.</summary>
    public bool Draining { get; private set; }

    public int InFlight => _streams.Count;

    /// <summary>Gives the stream its id (1, 2, 3, … per socket, §5.2); false if the socket can take no more.</summary>
    public bool TryOpen(IV3Stream stream, out int requestId)
    {
        if (_streams.Count >= MaxStreams)
        {
            requestId = 0;
            return false;
        }

        requestId = Interlocked.Increment(ref _lastId);
        if (_closed || requestId <= 0)
        {
            return false;
        }

        _streams[requestId] = stream;
        if (_closed)
        {
            _streams.TryRemove(requestId, out _);
            return false;
        }

        return true;
    }

    /// <summary>The stream is finished on our side; later messages for its id are ignored (§5.2).</summary>
    public void Forget(int requestId)
    {
        if (_streams.TryRemove(requestId, out _))
        {
            // The connector may still send for it until it reads our reset or end: allow for that.
            var allowance = Volatile.Read(ref _strayAllowance);
            if (allowance < 4096)
            {
                Interlocked.CompareExchange(ref _strayAllowance, Math.Min(allowance + 64, 4096), allowance);
            }
        }

        if (Draining && _streams.IsEmpty)
        {
            _ = CloseAsync(WebSocketCloseStatus.EndpointUnavailable, "Going away");
        }
    }

    /// <summary>Deregistration (§1.9): no new streams; closed with 1001 now if idle, else left for the connector to close.</summary>
    public void Drain()
    {
        Draining = true;
        if (_streams.IsEmpty)
        {
            _ = CloseAsync(WebSocketCloseStatus.EndpointUnavailable, "Going away");
        }
    }

    /// <summary>Drops the connection without a close handshake.</summary>
    public void Abort() => _socket.Abort();

    public Task CloseAsync(WebSocketCloseStatus status, string reason) =>
        Sender.Gate.CloseAsync(status, reason, TimeSpan.FromSeconds(5), _time);

    public async Task RunAsync(CancellationToken cancellationToken)
    {
        using var reader = new V3MessageReader(MaxMessage);
        var end = SocketEnd.SocketLost;
        string? detail = null;
        WebSocketCloseStatus? violation = null;
        try
        {
            while (true)
            {
                var type = await reader.ReceiveAsync(_socket, cancellationToken);
                if (type == WebSocketMessageType.Close)
                {
                    // No new stream from now on, even while the close is echoed.
                    _closed = true;

                    // 1000 completes every open stream normally, as mu does (§5.7); anything else fails them.
                    end = _socket.CloseStatus == WebSocketCloseStatus.NormalClosure ? SocketEnd.Completed : SocketEnd.ConnectorError;
                    detail = $"close {(int?)_socket.CloseStatus} {_socket.CloseStatusDescription}";
                    if (_socket.State == WebSocketState.CloseReceived)
                    {
                        await Sender.Gate.CloseAsync(WebSocketCloseStatus.NormalClosure, "", TimeSpan.FromSeconds(5), _time);
                    }

                    break;
                }

                if (type == WebSocketMessageType.Binary)
                {
                    await DispatchAsync(reader, cancellationToken);
                }

                // Text messages mean nothing in cranker_3.0 and are ignored (§5.1).
            }
        }
        catch (Exception ex) when (ex is InvalidDataException or V3ProtocolViolation)
        {
            // The connector broke the protocol: this socket goes (1009 for a message too large, 1002 otherwise).
            end = SocketEnd.ProtocolError;
            detail = ex.Message;
            violation = ex is InvalidDataException ? WebSocketCloseStatus.MessageTooBig : WebSocketCloseStatus.ProtocolError;
        }
        catch (Exception ex)
        {
            end = SocketEnd.SocketLost;
            detail = ex.Message;
        }
        finally
        {
            _closed = true;
        }

        if (violation is { } status)
        {
            RouterLog.ConnectorProtocolViolation(_logger, Connector.InstanceId, Connector.Route, Id, detail!);
            try
            {
                await Sender.Gate.CloseAsync(status, status == WebSocketCloseStatus.MessageTooBig ? "Message too big" : "Protocol error", TimeSpan.FromSeconds(5), _time);
            }
            catch (Exception)
            {
                // Gone already: aborted below either way.
            }

            // So that the connector reads our close, and learns why, before the abort below.
            await WebSocketClose.DrainUntilClosedAsync(_socket, TimeSpan.FromSeconds(2), _time);
        }

        foreach (var (id, stream) in _streams)
        {
            _streams.TryRemove(id, out _);
            stream.OnSocketEnded(end, detail);
        }

        RouterLog.SocketEnded(_logger, Connector.Route, Id, end, (int?)_socket.CloseStatus, detail, null);
        _socket.Abort();
    }

    private async ValueTask DispatchAsync(V3MessageReader reader, CancellationToken cancellationToken)
    {
        var message = reader.Message;
        if (!V3Frame.TryReadPrefix(message.Span, out var type, out var flags, out var id))
        {
            return; // too short to mean anything: ignored, like an unknown type
        }

        var payload = message[V3Frame.PrefixLength..];
        if (!_streams.TryGetValue(id, out var stream) && type is V3Type.Header or V3Type.Data or V3Type.RstStream or V3Type.WindowUpdate
            && Interlocked.Decrement(ref _strayAllowance) < 0)
        {
            throw new V3ProtocolViolation($"too many messages for streams this router does not have (the last for stream {id}; MaxStrayMessages)");
        }

        switch (type)
        {
            case V3Type.Header:
                if (stream is not null)
                {
                    // Acknowledged on receipt (§5.6), unless no-head-ack was agreed.
                    if ((HeadAcks & HeadAcks.Response) != 0)
                    {
                        await Sender.SendWindowUpdateAsync(id, payload.Length, cancellationToken);
                    }

                    stream.OnHeadPiece(payload.Span, flags);
                }

                break;
            case V3Type.Data:
                stream?.OnData(new V3Payload(reader, V3Frame.PrefixLength), (flags & V3Flags.EndStream) != 0);
                break;
            case V3Type.RstStream:
                if (stream is not null)
                {
                    _streams.TryRemove(id, out _);
                    var (code, text) = V3Frame.ReadRst(payload.Span);
                    stream.OnReset(code, text);
                }

                break;
            case V3Type.WindowUpdate:
                stream?.OnWindowUpdate(V3Frame.ReadWindowUpdate(payload.Span));
                break;
            default:
                break; // unknown types are ignored for forward compatibility (§5.1)
        }
    }

    public void Dispose()
    {
        Sender.Gate.Dispose();
        _socket.Dispose();
    }
}

/// <summary>A connector broke cranker_3.0 in a way that ends its socket.</summary>
internal sealed class V3ProtocolViolation(string message) : Exception(message);
