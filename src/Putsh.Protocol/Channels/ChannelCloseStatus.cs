namespace Putsh.Protocol.Channels;

/// <summary>Why a channel closed. WebSocket close codes 1000–1003 map to the first four.</summary>
public enum ChannelCloseStatus
{
    /// <summary>The peer ended the exchange normally (WebSocket 1000).</summary>
    Normal,

    /// <summary>The peer is going away (WebSocket 1001).</summary>
    GoingAway,

    /// <summary>The peer broke the protocol (WebSocket 1002).</summary>
    ProtocolError,

    /// <summary>The peer received data it cannot accept (WebSocket 1003).</summary>
    Unsupported,

    /// <summary>Any other reason or close code.</summary>
    Unknown,

    /// <summary>Our side closed the channel: <see cref="IChannel.Close"/>, or a limit of ours was exceeded.</summary>
    ServerClose,

    /// <summary>The peer disconnected without a close code (a client that went away).</summary>
    ClientClose,
}
