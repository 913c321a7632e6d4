using System.Net.WebSockets;
using Microsoft.Extensions.Logging;
using Putsh.Protocol.V3;

namespace Putsh.Router.Sockets;

/// <summary>
/// One long-lived cranker_3.0 socket from a connector (§5), the router's end of a <see cref="V3Session"/>: it
/// opens a stream per client request and adds what the router needs to choose a socket.
/// </summary>
internal sealed class RouterSocketV3(WebSocket socket, ConnectorInfo connector, TimeProvider time, ILogger logger, V3SessionSettings settings, bool webSockets = false)
    : V3Session(socket, V3Role.Router, settings, time)
{
    public ConnectorInfo Connector { get; } = connector;

    /// <summary>The connector negotiated the putsh <c>websocket</c> extension on this socket.</summary>
    public bool SupportsWebSockets { get; } = webSockets;

    /// <summary>The socket serves a TCP route (the <c>tcp</c> extension, docs/protocol.md §12.9).</summary>
    public bool IsTcp { get; init; }

    public string Id { get; } = Guid.NewGuid().ToString("N");

    /// <summary>False once the socket ended, or once it was taken out of rotation (deregistration).</summary>
    public bool IsUsable => !HasEnded && !IsClosingWhenIdle;

    /// <summary>When bytes last arrived on the connection, where that is known.</summary>
    public Putsh.Protocol.WebSockets.ReadActivity? Activity { get; init; }

    /// <summary>Silence after which the socket is passed over for new requests; null: never.</summary>
    public TimeSpan? PongTimeout { get; init; }

    /// <summary>Something (a message, a pong) arrived recently enough for the connector to be thought alive.</summary>
    public bool IsResponsive => Activity is null || PongTimeout is not { } limit || Activity.Silence < limit;

    /// <summary>Deregistration (§1.9): no new streams; closed with 1001 now if idle, else once its last stream ends.</summary>
    public void Drain() => _ = CloseWhenIdleAsync(WebSocketCloseStatus.EndpointUnavailable, "Going away");

    /// <summary>How a stream's exchange classifies the end of its socket.</summary>
    public static SocketEnd ToSocketEnd(V3SessionEnd end) => end switch
    {
        V3SessionEnd.Completed => SocketEnd.Completed,
        V3SessionEnd.PeerError => SocketEnd.ConnectorError,
        V3SessionEnd.ProtocolError => SocketEnd.ProtocolError,
        _ => SocketEnd.SocketLost,
    };

    protected override void OnProtocolViolation(string detail) =>
        RouterLog.ConnectorProtocolViolation(logger, Connector.InstanceId, Connector.Route, Id, detail);

    protected override void OnEnded(V3SessionEnd end, int? closeCode, string? detail) =>
        RouterLog.SocketEnded(logger, Connector.Route, Id, ToSocketEnd(end), closeCode, detail, null);
}
