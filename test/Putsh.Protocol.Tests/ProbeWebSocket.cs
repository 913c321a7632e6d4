using System.Collections.Concurrent;
using System.Net.WebSockets;

namespace Putsh.Protocol.Tests;

/// <summary>
/// A hand-driven <see cref="WebSocket"/> that records what is sent and lets a test hold a send in progress, to
/// observe ordering and mutual exclusion deterministically.
/// </summary>
internal sealed class ProbeWebSocket : WebSocket
{
    private readonly object _lock = new();
    private readonly List<SentFrame> _sends = [];
    private readonly List<CloseCall> _closes = [];
    private readonly List<string> _events = [];
    private readonly ConcurrentQueue<Task> _sendBlockers = new();
    private readonly TaskCompletionSource _closeStarted = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly SemaphoreSlim _sendEntered = new(0);
    private int _inFlight;
    private int _maxInFlight;
    private int _sendCallCount;

    public WebSocketState StateValue { get; set; } = WebSocketState.Open;

    public bool ThrowOnClose { get; init; }

    public bool BlockCloseUntilCancelled { get; init; }

    public bool Aborted { get; private set; }

    public Task CloseStarted => _closeStarted.Task;

    public int SendCallCount => Volatile.Read(ref _sendCallCount);

    public int MaxInFlight => Volatile.Read(ref _maxInFlight);

    public IReadOnlyList<SentFrame> Sends
    {
        get
        {
            lock (_lock)
            {
                return [.. _sends];
            }
        }
    }

    public IReadOnlyList<CloseCall> Closes
    {
        get
        {
            lock (_lock)
            {
                return [.. _closes];
            }
        }
    }

    /// <summary>"send", "close" and "abort", in the order they happened.</summary>
    public IReadOnlyList<string> Events
    {
        get
        {
            lock (_lock)
            {
                return [.. _events];
            }
        }
    }

    /// <summary>Waits until one more send has reached the socket; false on timeout.</summary>
    public Task<bool> WaitForSendAsync(TimeSpan timeout) => _sendEntered.WaitAsync(timeout);

    /// <summary>The next send that reaches the socket waits for the returned source to be completed.</summary>
    public TaskCompletionSource HoldNextSend()
    {
        var tcs = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _sendBlockers.Enqueue(tcs.Task);
        return tcs;
    }

    public override WebSocketCloseStatus? CloseStatus => null;

    public override string? CloseStatusDescription => null;

    public override WebSocketState State => StateValue;

    public override string? SubProtocol => null;

    public override void Abort()
    {
        lock (_lock)
        {
            Aborted = true;
            _events.Add("abort");
        }

        StateValue = WebSocketState.Aborted;
    }

    public override Task CloseAsync(WebSocketCloseStatus closeStatus, string? statusDescription, CancellationToken cancellationToken) =>
        CloseOutputAsync(closeStatus, statusDescription, cancellationToken);

    public override async Task CloseOutputAsync(WebSocketCloseStatus closeStatus, string? statusDescription, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            _closes.Add(new CloseCall(closeStatus, statusDescription));
            _events.Add("close");
        }

        _closeStarted.TrySetResult();
        if (ThrowOnClose)
        {
            throw new WebSocketException(WebSocketError.ConnectionClosedPrematurely);
        }

        if (BlockCloseUntilCancelled)
        {
            var never = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            using (cancellationToken.Register(() => never.TrySetCanceled(cancellationToken)))
            {
                await never.Task;
            }
        }

        StateValue = WebSocketState.CloseSent;
    }

    public override void Dispose() => _sendEntered.Dispose();

    public override Task<WebSocketReceiveResult> ReceiveAsync(ArraySegment<byte> buffer, CancellationToken cancellationToken) =>
        throw new NotSupportedException();

    public override Task SendAsync(ArraySegment<byte> buffer, WebSocketMessageType messageType, bool endOfMessage, CancellationToken cancellationToken) =>
        SendCoreAsync(buffer, messageType, endOfMessage);

    public override ValueTask SendAsync(ReadOnlyMemory<byte> buffer, WebSocketMessageType messageType, bool endOfMessage, CancellationToken cancellationToken) =>
        new(SendCoreAsync(buffer, messageType, endOfMessage));

    private async Task SendCoreAsync(ReadOnlyMemory<byte> buffer, WebSocketMessageType messageType, bool endOfMessage)
    {
        // Copy at once: the caller may return a pooled buffer as soon as the send completes.
        var frame = new SentFrame(buffer.ToArray(), messageType, endOfMessage);
        var inFlight = Interlocked.Increment(ref _inFlight);
        InterlockedMax(ref _maxInFlight, inFlight);
        Interlocked.Increment(ref _sendCallCount);
        lock (_lock)
        {
            _sends.Add(frame);
            _events.Add("send");
        }

        _sendEntered.Release();
        try
        {
            if (_sendBlockers.TryDequeue(out var blocker))
            {
                await blocker;
            }
        }
        finally
        {
            Interlocked.Decrement(ref _inFlight);
        }
    }

    private static void InterlockedMax(ref int target, int value)
    {
        var current = Volatile.Read(ref target);
        while (value > current)
        {
            var seen = Interlocked.CompareExchange(ref target, value, current);
            if (seen == current)
            {
                return;
            }

            current = seen;
        }
    }

    internal sealed record SentFrame(byte[] Data, WebSocketMessageType Type, bool EndOfMessage);

    internal sealed record CloseCall(WebSocketCloseStatus Status, string? Reason);
}
