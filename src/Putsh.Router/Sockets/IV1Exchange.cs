using System.Net.WebSockets;

namespace Putsh.Router.Sockets;

/// <summary>How a connector socket's exchange ended.</summary>
internal enum SocketEnd
{
    /// <summary>The connector closed with 1000: the response is complete.</summary>
    Completed,

    /// <summary>The connector closed with another code (1011 for a target failure, §4.6).</summary>
    ConnectorError,

    /// <summary>The socket broke without a close frame.</summary>
    SocketLost,

    /// <summary>Nothing was read from the socket for <see cref="RouterOptions.IdleTimeout"/>.</summary>
    TimedOut,

    /// <summary>The connector sent something the protocol does not allow.</summary>
    ProtocolError,

    /// <summary>The router closed the socket (client gone, shutdown).</summary>
    ClosedByRouter,
}

/// <summary>The receiving half of one proxied request on a cranker_1.0 socket.</summary>
internal interface IV1Exchange
{
    /// <summary>The response head text arrived (§4.4).</summary>
    ValueTask OnHeadAsync(string head);

    /// <summary>Response body bytes arrived; the socket reads nothing more until this completes (backpressure, §4.5).</summary>
    ValueTask OnBodyAsync(ReadOnlyMemory<byte> chunk);

    /// <summary>The socket is finished, for the reason given. Called exactly once.</summary>
    void OnEnd(SocketEnd end, WebSocketCloseStatus? closeStatus, string? closeReason, Exception? error);
}
