namespace Putsh.Protocol.V3;

/// <summary>
/// The sender's side of cranker_3.0 flow control for one stream (§5.6): bytes sent but not yet acknowledged. Above
/// 64 KiB the sender pauses; an acknowledgement that takes it below 16 KiB resumes it. Between putsh peers that
/// agreed on a larger window (the <c>flow-window</c> extension) the marks are that window and a quarter of it.
/// </summary>
/// <param name="highWatermark">Unacknowledged bytes above which the sender pauses.</param>
/// <param name="countsHeads">False when the peers agreed <c>no-head-ack</c>: HEADER bytes are not counted, as they are never acknowledged.</param>
internal sealed class FlowWindow(int highWatermark = V3Frame.HighWatermark, bool countsHeads = true)
{
    private readonly int _high = highWatermark;
    private readonly int _low = highWatermark / 4;
    private readonly Lock _lock = new();
    private long _unacked;
    private bool _writable = true;
    private TaskCompletionSource? _resume;

    /// <summary>Unacknowledged bytes above which the sender pauses; the receiver's side holds at most this plus one message.</summary>
    public int HighWatermark => _high;

    /// <summary>
    /// What a receiver queues for one stream before it calls the sender's flow control ignored and resets the stream:
    /// the <paramref name="window"/> plus a whole MiB, far more than the one message a sender may send past it.
    /// </summary>
    public static long OverrunLimit(int window) => window + (1024L * 1024);

    public long Unacked
    {
        get
        {
            lock (_lock)
            {
                return _unacked;
            }
        }
    }

    /// <summary>Counts <paramref name="bytes"/> of payload just sent.</summary>
    public void OnSent(int bytes)
    {
        lock (_lock)
        {
            _unacked += bytes;
            if (_unacked > _high)
            {
                _writable = false;
            }
        }
    }

    /// <summary>Counts a HEADER message's <paramref name="bytes"/> of payload just sent, unless heads are not acknowledged.</summary>
    public void OnHeadSent(int bytes)
    {
        if (countsHeads)
        {
            OnSent(bytes);
        }
    }

    /// <summary>Applies a WINDOW_UPDATE.</summary>
    public void OnAcknowledged(int bytes)
    {
        TaskCompletionSource? resume = null;
        lock (_lock)
        {
            _unacked -= bytes;
            if (!_writable && _unacked < _low)
            {
                _writable = true;
                resume = _resume;
                _resume = null;
            }
        }

        resume?.TrySetResult();
    }

    /// <summary>Completes when the sender may send more: at once if writable, else at the next resume or on cancel.</summary>
    public Task WaitWritableAsync(CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            if (_writable)
            {
                return Task.CompletedTask;
            }

            _resume ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            return _resume.Task.WaitAsync(cancellationToken);
        }
    }

    /// <summary>Wakes any waiter for good (the stream ended).</summary>
    public void Release()
    {
        TaskCompletionSource? resume;
        lock (_lock)
        {
            _writable = true;
            resume = _resume;
            _resume = null;
        }

        resume?.TrySetResult();
    }
}
