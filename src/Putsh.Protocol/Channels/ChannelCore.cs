using System.Threading.Channels;

namespace Putsh.Protocol.Channels;

/// <summary>
/// The shared half of every channel: a send queue bounded in bytes and drained in order by one writer loop, close
/// that happens once, and handler bookkeeping. A transport derives from it and supplies the writes.
/// </summary>
#pragma warning disable CA1001 // _abort has no timer and no wait handle: nothing to release.
internal abstract class ChannelCore : IChannel
#pragma warning restore CA1001
{
    /// <summary>Default bound of bytes queued by <see cref="Send"/> and not yet written: 4 MiB.</summary>
    public const long DefaultMaxQueuedBytes = 4 * 1024 * 1024;

    private readonly Lock _lock = new();
    private readonly Channel<ChannelData> _queue = Channel.CreateUnbounded<ChannelData>(new UnboundedChannelOptions { SingleReader = true });
    private readonly List<Action<ChannelMessage>> _receivers = [];
    private readonly List<Action<ChannelCloseStatus>> _closers = [];
    private readonly long _maxQueuedBytes;
    private List<ChannelMessage>? _early;
    private long _queued;
    private bool _closed;
    private bool _peerClosed;
    private bool _fired;
    private bool _sentAny;
    private TaskCompletionSource? _drained;
    private ChannelCloseStatus? _status;
    private Task? _writer;
    private TaskCompletionSource? _completion;
    private bool _failAtEnd;

    /// <summary>Creates the channel's shared state.</summary>
    /// <param name="isWebSocket">Whether the exchange is a WebSocket.</param>
    /// <param name="maxQueuedBytes">The send queue's bound in bytes.</param>
    protected ChannelCore(bool isWebSocket, long maxQueuedBytes = DefaultMaxQueuedBytes)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxQueuedBytes, 1);
        IsWebSocket = isWebSocket;
        _maxQueuedBytes = maxQueuedBytes;
    }

    /// <inheritdoc />
    public bool IsWebSocket { get; }

    /// <inheritdoc />
    public bool IsOpen
    {
        get
        {
            lock (_lock)
            {
                return !_closed;
            }
        }
    }

    /// <summary>True once anything was queued by <see cref="Send"/>.</summary>
    public bool HasSent => Volatile.Read(ref _sentAny);

    /// <summary>Bytes queued and not yet written.</summary>
    public long QueuedBytes
    {
        get
        {
            lock (_lock)
            {
                return _queued;
            }
        }
    }

    /// <summary>
    /// Completes once fewer than <paramref name="bytes"/> are queued, or the channel closed. For producers that can
    /// wait (a response body stream) and would rather slow down than hit the queue limit.
    /// </summary>
    public Task WaitForQueueBelowAsync(long bytes, CancellationToken cancellationToken = default)
    {
        lock (_lock)
        {
            if (_queued < bytes || _fired || _peerClosed)
            {
                return Task.CompletedTask;
            }

            _drained ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var signal = _drained.Task;
            return WaitThenCheckAsync(signal, bytes, cancellationToken);
        }
    }

    private async Task WaitThenCheckAsync(Task signal, long bytes, CancellationToken cancellationToken)
    {
        await signal.WaitAsync(cancellationToken).ConfigureAwait(false);
        await WaitForQueueBelowAsync(bytes, cancellationToken).ConfigureAwait(false);
    }

    private void SignalDrained()
    {
        TaskCompletionSource? drained;
        lock (_lock)
        {
            drained = _drained;
            _drained = null;
        }

        drained?.TrySetResult();
    }

    /// <inheritdoc />
    public Task Completion
    {
        get
        {
            lock (_lock)
            {
                // Open with nothing queued: done once it is closed and written, which the writer loop reports.
                return _writer ?? (_closed ? Task.CompletedTask : (_completion ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).Task);
            }
        }
    }

    /// <inheritdoc />
    public ValueTask<bool> SendAsync(ChannelData data, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(data);
        var pace = Math.Max(1, _maxQueuedBytes / 4);
        var wait = WaitForQueueBelowAsync(pace, cancellationToken);
        return wait.IsCompletedSuccessfully ? new ValueTask<bool>(Send(data)) : SendAfterAsync(wait, data);
    }

    private async ValueTask<bool> SendAfterAsync(Task wait, ChannelData data)
    {
        await wait.ConfigureAwait(false);
        return Send(data);
    }

    /// <inheritdoc />
    public void Abort()
    {
        lock (_lock)
        {
            if (_closed)
            {
                return;
            }

            _closed = true;
            _failAtEnd = true;
            _status = ChannelCloseStatus.ServerClose;
            _queue.Writer.TryComplete();
            _writer ??= Task.Run(WriteLoopAsync);
        }
    }

    /// <inheritdoc />
    public bool Send(ChannelData data)
    {
        ArgumentNullException.ThrowIfNull(data);
        var overflow = false;
        lock (_lock)
        {
            if (_closed)
            {
                data.Release();
                return false;
            }

            if (_queued + data.Body.Length > _maxQueuedBytes)
            {
                overflow = true;
            }
            else
            {
                _queued += data.Body.Length;
                _sentAny = true;
                _queue.Writer.TryWrite(data);
                _writer ??= Task.Run(WriteLoopAsync);
                return true;
            }
        }

        if (overflow)
        {
            // The peer does not keep up: close instead of growing (the status says it was us).
            CloseFromPeerOrLimit(ChannelCloseStatus.ServerClose, abort: true);
        }

        data.Release();
        return false;
    }

    /// <inheritdoc />
    public bool Close()
    {
        lock (_lock)
        {
            if (_closed)
            {
                return false;
            }

            _closed = true;
            _status = ChannelCloseStatus.ServerClose;
            _queue.Writer.TryComplete();
            _writer ??= Task.Run(WriteLoopAsync);
        }

        return true;
    }

    /// <inheritdoc />
    public void OnReceive(Action<ChannelMessage> handler)
    {
        ArgumentNullException.ThrowIfNull(handler);
        List<ChannelMessage>? early;
        lock (_lock)
        {
            _receivers.Add(handler);
            early = _early;
            _early = null;
        }

        if (early is not null)
        {
            foreach (var message in early)
            {
                handler(message);
            }
        }
    }

    /// <inheritdoc />
    public void OnClose(Action<ChannelCloseStatus> handler)
    {
        ArgumentNullException.ThrowIfNull(handler);
        ChannelCloseStatus? fireNow = null;
        lock (_lock)
        {
            if (_fired)
            {
                fireNow = _status ?? ChannelCloseStatus.Unknown;
            }
            else
            {
                _closers.Add(handler);
            }
        }

        if (fireNow is { } s)
        {
            handler(s);
        }
    }

    /// <summary>Hands a message from the peer to the handlers, in order. Call from the transport's single receive loop.</summary>
    protected void Deliver(ChannelMessage message)
    {
        ArgumentNullException.ThrowIfNull(message);
        Action<ChannelMessage>[] receivers;
        lock (_lock)
        {
            if (_receivers.Count == 0)
            {
                // No handler yet: keep a copy until one is added.
                (_early ??= []).Add(message.IsText ? ChannelMessage.Utf8Text(message.Data.ToArray()) : ChannelMessage.Binary(message.Data.ToArray()));
                return;
            }

            receivers = [.. _receivers];
        }

        foreach (var receiver in receivers)
        {
            receiver(message);
        }
    }

    /// <summary>The peer closed or went away: queued data is dropped and the close handlers run with <paramref name="status"/>.</summary>
    protected void ClosedByPeer(ChannelCloseStatus status) => CloseFromPeerOrLimit(status, abort: false);

    /// <summary>Writes one queued item to the transport. <paramref name="first"/> is true for the first item of the exchange.</summary>
    protected abstract ValueTask WriteAsync(ChannelData data, bool first, CancellationToken cancellationToken);

    /// <summary>
    /// Ends the transport: after a <see cref="Close"/> (<paramref name="graceful"/> true, everything queued was
    /// written; <paramref name="anythingSent"/> says whether any item was) or abruptly (false).
    /// </summary>
    protected abstract ValueTask CompleteAsync(bool graceful, bool anythingSent);

    private readonly CancellationTokenSource _abort = new();

    private void CloseFromPeerOrLimit(ChannelCloseStatus status, bool abort)
    {
        lock (_lock)
        {
            if (_peerClosed)
            {
                return;
            }

            _peerClosed = true;
            if (!_closed || abort)
            {
                _closed = true;
                _status = status;
            }

            _queue.Writer.TryComplete();
            _writer ??= Task.Run(WriteLoopAsync);
        }

        _abort.Cancel();
    }

    private async Task WriteLoopAsync()
    {
        var first = true;
        var graceful = true;
        try
        {
            await foreach (var item in _queue.Reader.ReadAllAsync(_abort.Token).ConfigureAwait(false))
            {
                try
                {
                    await WriteAsync(item, first, _abort.Token).ConfigureAwait(false);
                }
                finally
                {
                    lock (_lock)
                    {
                        _queued -= item.Body.Length;
                    }

                    item.Release();
                    SignalDrained();
                }

                first = false;
            }
        }
        catch (Exception)
        {
            graceful = false;
        }

        // Whatever was still queued is dropped: pooled bodies go back.
        while (_queue.Reader.TryRead(out var dropped))
        {
            dropped.Release();
        }

        bool peerClosed;
        lock (_lock)
        {
            peerClosed = _peerClosed || _failAtEnd;
            _closed = true;
            _status ??= ChannelCloseStatus.ServerClose;
        }

        SignalDrained();
        try
        {
            await CompleteAsync(graceful && !peerClosed, !first).ConfigureAwait(false);
        }
        catch (Exception)
        {
            // The transport is gone either way.
        }

        FireClose();
        TaskCompletionSource? completion;
        lock (_lock)
        {
            completion = _completion;
        }

        completion?.TrySetResult();
    }

    private void FireClose()
    {
        Action<ChannelCloseStatus>[] closers;
        ChannelCloseStatus status;
        lock (_lock)
        {
            _fired = true; // from here on, late OnClose handlers run at once
            closers = [.. _closers];
            _closers.Clear();
            status = _status ?? ChannelCloseStatus.Unknown;
        }

        foreach (var closer in closers)
        {
            closer(status);
        }
    }
}
