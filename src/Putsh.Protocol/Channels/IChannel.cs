namespace Putsh.Protocol.Channels;

/// <summary>
/// One client exchange (an HTTP request and its response, or a WebSocket), as application code sees it on either
/// side of putsh.
/// </summary>
public interface IChannel
{
    /// <summary>True until the channel is closed by either side.</summary>
    bool IsOpen { get; }

    /// <summary>True when the exchange is a WebSocket.</summary>
    bool IsWebSocket { get; }

    /// <summary>
    /// Closes the channel; on an HTTP exchange this completes the response after everything already sent.
    /// Idempotent: true if this call closed it, false if it was already closed.
    /// </summary>
    bool Close();

    /// <summary>
    /// Queues <paramref name="data"/> for the peer and returns at once, never blocking. True if queued; false once
    /// the channel is closed. A peer that reads too slowly for the channel's queue limit gets the channel closed
    /// (<see cref="ChannelCloseStatus.ServerClose"/>) rather than memory growing without end.
    /// </summary>
    bool Send(ChannelData data);

    /// <summary>Adds a handler for the peer's messages; each handler sees them strictly in the order received.</summary>
    void OnReceive(Action<ChannelMessage> handler);

    /// <summary>Adds a handler called at most once, when the channel closes, with the reason.</summary>
    void OnClose(Action<ChannelCloseStatus> handler);
}
