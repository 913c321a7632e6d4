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

    /// <summary>
    /// Queues <paramref name="data"/> as <see cref="Send"/> does, first waiting while the peer lags behind (more than
    /// a quarter of the queue limit is queued), so that a producer that can wait slows down instead of reaching the
    /// limit. True if queued; false once the channel is closed.
    /// </summary>
    ValueTask<bool> SendAsync(ChannelData data, CancellationToken cancellationToken = default);

    /// <summary>
    /// Ends the exchange as failed: what was sent before is still written, in order, then the peer sees a failure
    /// instead of a clean end. On an HTTP exchange with nothing sent the client gets the router's 502; after a send, a
    /// response cut off. The close handlers run with <see cref="ChannelCloseStatus.ServerClose"/>. Does nothing once
    /// the channel is closed.
    /// </summary>
    void Abort();

    /// <summary>Completes once everything queued has been written (or dropped) and the exchange is over on this side.</summary>
    Task Completion { get; }

    /// <summary>Adds a handler for the peer's messages; each handler sees them strictly in the order received.</summary>
    void OnReceive(Action<ChannelMessage> handler);

    /// <summary>Adds a handler called at most once, when the channel closes, with the reason.</summary>
    void OnClose(Action<ChannelCloseStatus> handler);
}
