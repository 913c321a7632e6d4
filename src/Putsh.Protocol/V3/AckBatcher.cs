namespace Putsh.Protocol.V3;

/// <summary>
/// The receiver's side of cranker_3.0 flow control for one stream: when to send the WINDOW_UPDATE for DATA it has
/// consumed (written to the client, or handed to the target).
/// </summary>
/// <remarks>
/// With §5.6's 64 KiB window every chunk is acknowledged on its own, exactly as the table in §5.6 says: plain Cranker
/// peers expect that. Between putsh peers that agreed on a larger window (the <c>flow-window</c> extension),
/// acknowledgements are batched: one for up to a quarter of the window, or sooner whenever nothing more is queued
/// for the stream. The sender resumes below a quarter of its window (<see cref="FlowWindow"/>), so a sender that is
/// ahead keeps going, and a receiver that has caught up always acknowledges everything it holds: the stream cannot
/// stall. A 10 MiB download then costs 40 acknowledgements instead of 160, each a WebSocket message (masked by the
/// connector) and a wake-up of the other side's receive loop.
/// </remarks>
/// <param name="window">The stream's flow-control window: <see cref="V3Frame.HighWatermark"/> unless an extension agreed more.</param>
internal sealed class AckBatcher(int window)
{
    private readonly int _threshold = window > V3Frame.HighWatermark ? window / 4 : 0;
    private int _pending;

    /// <summary>Bytes consumed but not yet acknowledged.</summary>
    public int Pending => _pending;

    /// <summary>
    /// Records <paramref name="consumed"/> bytes as consumed. Returns how many to acknowledge now, or 0 to wait: now
    /// for a plain window, else once a quarter of the window is pending or when <paramref name="moreQueued"/> is false.
    /// </summary>
    public int OnConsumed(int consumed, bool moreQueued)
    {
        _pending += consumed;
        if (_pending == 0 || (moreQueued && _pending < _threshold))
        {
            return 0;
        }

        var ack = _pending;
        _pending = 0;
        return ack;
    }
}
