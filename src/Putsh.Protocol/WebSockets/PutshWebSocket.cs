using System.Buffers;
using System.Buffers.Binary;
using System.IO.Pipelines;
using System.Net.WebSockets;
using System.Text;

namespace Putsh.Protocol.WebSockets;

/// <summary>How a <see cref="PutshWebSocket"/> behaves.</summary>
internal sealed class PutshWebSocketOptions
{
    /// <summary>The server side: expects masked frames and sends unmasked ones (RFC 6455 §5.1).</summary>
    public bool IsServer { get; init; }

    /// <summary>The subprotocol the handshake agreed, if any.</summary>
    public string? SubProtocol { get; init; }

    /// <summary>How often a ping is sent; zero: never.</summary>
    public TimeSpan KeepAliveInterval { get; init; }

    /// <summary>
    /// How long a ping may go unanswered before the socket is aborted; <see cref="Timeout.InfiniteTimeSpan"/>: pings are
    /// not checked, and the keep-alive is an unsolicited pong instead (RFC 6455 §5.5.3), as .NET's own WebSocket
    /// does.
    /// </summary>
    public TimeSpan KeepAliveTimeout { get; init; } = Timeout.InfiniteTimeSpan;

    /// <summary>The clock of the keep-alive.</summary>
    public TimeProvider Time { get; init; } = TimeProvider.System;

    /// <summary>The largest frame payload accepted; a bigger one closes the socket with 1009.</summary>
    public long MaxFramePayload { get; init; } = long.MaxValue;

    /// <summary>Unsent bytes above which data sends wait; control frames never do.</summary>
    public int MaxQueuedBytes { get; init; } = 256 * 1024;

    /// <summary>Where queued frames live; <see cref="Transport.BlockMemoryPool.Sockets"/> if not given.</summary>
    public MemoryPool<byte>? Pool { get; init; }

    /// <summary>Told of every read that brought bytes, pongs included.</summary>
    public ReadActivity? Activity { get; init; }
}

/// <summary>
/// putsh's own RFC 6455 WebSocket over a <see cref="WsTransport"/>. Frames are read in place from the transport's
/// pipe and written into a queue that one loop sends, a whole burst at a time; client frames are masked as they are
/// copied into the queue, with keys from a bulk-filled buffer. Control frames never wait: a ping is answered by the
/// receive loop without waiting for room, so a receive loop is never held up by data the peer has not yet read
/// (with .NET's WebSocket, the pong waits for the send lock held by a stalled data send, and two peers sending to
/// each other can each stop reading). Keep-alive runs on the <see cref="WsHeartbeat"/> of its
/// <see cref="TimeProvider"/>.
/// </summary>
/// <remarks>
/// The states and the close handshake are those of <see cref="WebSocket"/>: a received close moves to CloseReceived
/// and the application answers it with <see cref="CloseOutputAsync"/>; both closes seen, the connection is shut.
/// Protocol errors (RFC 6455 §7.4.1: 1002, 1007, 1009) send their close, end the socket and throw
/// <see cref="WebSocketException"/> from the receive. One receive and one data send may be in progress at a time.
/// </remarks>
internal sealed class PutshWebSocket : WebSocket, IAsyncDisposable
{
    /// <summary>How long <see cref="DisposeAsync"/> waits for queued frames (a close echo) to leave before it cuts the connection.</summary>
    public static readonly TimeSpan DrainTimeout = TimeSpan.FromSeconds(2);

    private const int MaxControlPayload = 125;

    private readonly WsTransport _transport;
    private readonly PipeReader _input;
    private readonly PutshWebSocketOptions _options;
    private readonly bool _isServer;
    private readonly Pipe _queue;
    private readonly Lock _writeLock = new();
    private readonly Lock _stateLock = new();
    private readonly WsHeartbeat? _heartbeat;
    private readonly TaskCompletionSource _closed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Task _sendLoop;

    private WebSocketState _state = WebSocketState.Open;
    private WebSocketCloseStatus? _closeStatus;
    private string? _closeDescription;
    private bool _closeSent;
    private bool _closeReceived;
    private bool _queueCompleted;
    private volatile Exception? _sendError;

    // Send side: whether a message is open (the next frame continues it) and the unsent bytes.
    private bool _sendInMessage;
    private long _queued;
    private TaskCompletionSource? _room;

    // Receive side: the frame being read, and the message it belongs to.
    private long _frameRemaining;
    private bool _frameFin;
    private int _frameMask;
    private long _frameOffset;
    private bool _inFrame;
    private bool _inMessage;
    private WebSocketMessageType _messageType;
    private WsUtf8 _utf8;
    private readonly byte[] _control = new byte[MaxControlPayload];
    private int _receiving;

    // Keep-alive, in TimeProvider timestamps.
    private long _lastPing;
    private long _pingOutstandingSince;
    private long _pingCounter;

    public PutshWebSocket(WsTransport transport, PutshWebSocketOptions options)
    {
        _transport = transport;
        _input = transport.Input;
        _options = options;
        _isServer = options.IsServer;
        _queue = new Pipe(new PipeOptions(
            pool: options.Pool ?? Transport.BlockMemoryPool.Sockets,
            // The send loop runs on the thread pool, not on the writer's thread: what a burst queues (an acknowledgement,
            // a head, a short body and its end) then leaves in one send. Measured on both ends (bench/RESULTS.md,
            // 2026-12-03): run inline instead, the connector took 120 instead of 89 us of CPU per small request for
            // both processes, and the router 75 instead of 71.
            readerScheduler: PipeScheduler.ThreadPool,
            writerScheduler: PipeScheduler.Inline,
            // Never paused: room for data is counted here, so that control frames always go in at once.
            pauseWriterThreshold: 0,
            minimumSegmentSize: 4096,
            useSynchronizationContext: false));
        _sendLoop = SendLoopAsync();
        if (options.KeepAliveInterval > TimeSpan.Zero)
        {
            _lastPing = options.Time.GetTimestamp();
            _heartbeat = WsHeartbeat.For(options.Time, WsHeartbeat.PeriodFor(options.KeepAliveInterval));
            _heartbeat.Add(this);
        }
    }

    public override WebSocketCloseStatus? CloseStatus => _closeStatus;

    public override string? CloseStatusDescription => _closeDescription;

    public override WebSocketState State => _state;

    public override string? SubProtocol => _options.SubProtocol;

    /// <summary>Unsent bytes in the queue.</summary>
    internal long QueuedBytes => Volatile.Read(ref _queued);

    /// <summary>Completes when the socket is closed both ways or aborted.</summary>
    internal Task Closed => _closed.Task;

    // ----- receiving -----

    public override Task<WebSocketReceiveResult> ReceiveAsync(ArraySegment<byte> buffer, CancellationToken cancellationToken) =>
        ReceiveAsync(buffer.AsMemory(), cancellationToken).AsTask().ContinueWith(
            static (t, s) =>
            {
                var r = t.GetAwaiter().GetResult();
                return r.MessageType == WebSocketMessageType.Close
                    ? new WebSocketReceiveResult(0, WebSocketMessageType.Close, true, ((PutshWebSocket)s!)._closeStatus, ((PutshWebSocket)s!)._closeDescription)
                    : new WebSocketReceiveResult(r.Count, r.MessageType, r.EndOfMessage);
            },
            this,
            CancellationToken.None,
            TaskContinuationOptions.ExecuteSynchronously,
            TaskScheduler.Default);

    // Pooled: a socket's receives are one after another, so one box serves them all rather than one per message.
    [System.Runtime.CompilerServices.AsyncMethodBuilder(typeof(System.Runtime.CompilerServices.PoolingAsyncValueTaskMethodBuilder<>))]
    public override async ValueTask<ValueWebSocketReceiveResult> ReceiveAsync(Memory<byte> buffer, CancellationToken cancellationToken)
    {
        if (Interlocked.Exchange(ref _receiving, 1) == 1)
        {
            throw new InvalidOperationException("A receive is already in progress on this WebSocket.");
        }

        try
        {
            ThrowIfCannotReceive();
            using var registration = cancellationToken.CanBeCanceled
                ? cancellationToken.UnsafeRegister(static s => ((PipeReader)s!).CancelPendingRead(), _input)
                : default;
            while (true)
            {
                var read = await _input.ReadAsync(CancellationToken.None).ConfigureAwait(false);
                if (read.IsCanceled)
                {
                    _input.AdvanceTo(read.Buffer.Start);
                    if (_state == WebSocketState.Aborted)
                    {
                        throw Aborted();
                    }

                    if (cancellationToken.IsCancellationRequested)
                    {
                        // As .NET's WebSocket: a cancelled receive ends the socket, for a frame may be half read.
                        Abort();
                        cancellationToken.ThrowIfCancellationRequested();
                    }

                    // A late cancellation of an earlier receive: read again.
                    continue;
                }

                var data = read.Buffer;
                if (!data.IsEmpty)
                {
                    _options.Activity?.OnRead();
                }

                var outcome = Process(ref data, buffer.Span, out var result);
                if (outcome == Step.Error)
                {
                    _input.AdvanceTo(data.Start, data.Start);
                    throw ProtocolFailure();
                }

                if (outcome == Step.NeedMore)
                {
                    _input.AdvanceTo(data.Start, data.End);
                    if (read.IsCompleted)
                    {
                        throw Ended();
                    }

                    continue;
                }

                _input.AdvanceTo(data.Start);
                if (outcome == Step.Result)
                {
                    if (result.MessageType == WebSocketMessageType.Close)
                    {
                        OnCloseReceived();
                    }

                    return result;
                }
            }
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException || (ex is InvalidOperationException && _state == WebSocketState.Aborted))
        {
            Abort();
            throw new WebSocketException(WebSocketError.ConnectionClosedPrematurely, "The connection failed: " + ex.Message, ex);
        }
        finally
        {
            Volatile.Write(ref _receiving, 0);
        }
    }

    private enum Step
    {
        /// <summary>Something was handled (a control frame, a header); go on with what is left.</summary>
        Continue,

        /// <summary>The buffer ends before the next thing is whole.</summary>
        NeedMore,

        /// <summary><c>result</c> is ready.</summary>
        Result,

        /// <summary>A protocol error; its close is queued.</summary>
        Error,
    }

    private string? _failure;
    private int _failureCode;

    /// <summary>Reads as far as one result from <paramref name="data"/>, leaving it at what is not consumed.</summary>
    private Step Process(ref ReadOnlySequence<byte> data, Span<byte> destination, out ValueWebSocketReceiveResult result)
    {
        result = default;
        while (true)
        {
            if (_inFrame)
            {
                if (_frameRemaining > 0 && data.IsEmpty)
                {
                    return Step.NeedMore;
                }

                var n = (int)Math.Min(Math.Min(_frameRemaining, data.Length), destination.Length);
                var slice = data.Slice(0, n);
                var offset = 0;
                foreach (var segment in slice)
                {
                    var target = destination.Slice(offset, segment.Length);
                    if (_isServer)
                    {
                        WsMask.Copy(segment.Span, target, _frameMask, _frameOffset + offset);
                    }
                    else
                    {
                        segment.Span.CopyTo(target);
                    }

                    offset += segment.Length;
                }

                data = data.Slice(n);
                _frameRemaining -= n;
                _frameOffset += n;
                var end = _frameRemaining == 0 && _frameFin;
                if (_frameRemaining == 0)
                {
                    _inFrame = false;
                    if (_frameFin)
                    {
                        _inMessage = false;
                    }
                }

                if (_messageType == WebSocketMessageType.Text && !_utf8.Take(destination[..n], end))
                {
                    return Fail(1007, "a text message that is not UTF-8");
                }

                if (n == 0 && !end && _frameRemaining == 0)
                {
                    // An empty non-final fragment: nothing to give the caller; read on.
                    continue;
                }

                result = new ValueWebSocketReceiveResult(n, _messageType, end);
                return Step.Result;
            }

            var reader = new SequenceReader<byte>(data);
            var status = WsFrameReader.TryReadHeader(ref reader, expectMasked: _isServer, _options.MaxFramePayload, out var header, out var code, out var reason);
            if (status == WsReadStatus.Incomplete)
            {
                return Step.NeedMore;
            }

            if (status == WsReadStatus.Invalid)
            {
                return Fail(code, reason!);
            }

            if (header.IsControl)
            {
                var length = (int)header.PayloadLength;
                if (data.Length < header.HeaderLength + length)
                {
                    return Step.NeedMore;
                }

                var payload = _control.AsSpan(0, length);
                data.Slice(header.HeaderLength, length).CopyTo(payload);
                if (header.Masked)
                {
                    WsMask.Apply(payload, header.MaskKey, 0);
                }

                data = data.Slice(header.HeaderLength + length);
                switch (header.Opcode)
                {
                    case WsOpcode.Ping:
                        // Answered now, whatever data is queued: a pong never waits for room (RFC 6455 §5.5.2).
                        WriteControl(WsOpcode.Pong, payload);
                        continue;
                    case WsOpcode.Pong:
                        Volatile.Write(ref _pingOutstandingSince, 0);
                        continue;
                    default:
                        return ReadClose(payload, out result);
                }
            }

            if (header.Opcode == WsOpcode.Continuation ? !_inMessage : _inMessage)
            {
                return Fail(1002, _inMessage ? "a new message inside a fragmented one" : "a continuation frame outside a message");
            }

            if (!_inMessage)
            {
                _messageType = header.Opcode == WsOpcode.Text ? WebSocketMessageType.Text : WebSocketMessageType.Binary;
                _utf8.Reset();
                _inMessage = true;
            }

            data = data.Slice(header.HeaderLength);
            _inFrame = true;
            _frameRemaining = header.PayloadLength;
            _frameFin = header.Fin;
            _frameMask = header.MaskKey;
            _frameOffset = 0;
            if (header.PayloadLength == 0 && header.Fin)
            {
                _inFrame = false;
                _inMessage = false;
                if (_messageType == WebSocketMessageType.Text && !_utf8.Take([], final: true))
                {
                    return Fail(1007, "a text message that ends inside a character");
                }

                result = new ValueWebSocketReceiveResult(0, _messageType, true);
                return Step.Result;
            }
        }
    }

    private Step ReadClose(ReadOnlySpan<byte> payload, out ValueWebSocketReceiveResult result)
    {
        result = default;
        WebSocketCloseStatus? status = null;
        string? description = null;
        if (payload.Length == 1)
        {
            return Fail(1002, "a close frame of one byte");
        }

        if (payload.Length >= 2)
        {
            var code = BinaryPrimitives.ReadUInt16BigEndian(payload);
            // RFC 6455 §7.4: 1004-1006 and 1015 are never sent; below 1000 and 1012-2999 are not assigned to
            // applications.
            if (code is < 1000 or 1004 or 1005 or 1006 or (>= 1012 and < 3000) or >= 5000)
            {
                return Fail(1002, "a close frame with code " + code);
            }

            if (!System.Text.Unicode.Utf8.IsValid(payload[2..]))
            {
                return Fail(1007, "a close reason that is not UTF-8");
            }

            status = (WebSocketCloseStatus)code;
            description = Encoding.UTF8.GetString(payload[2..]);
        }

        lock (_stateLock)
        {
            _closeReceived = true;
            _closeStatus = status ?? WebSocketCloseStatus.Empty;
            _closeDescription = description ?? "";
        }

        result = new ValueWebSocketReceiveResult(0, WebSocketMessageType.Close, true);
        return Step.Result;
    }

    private Step Fail(int code, string reason)
    {
        _failureCode = code;
        _failure = reason;
        return Step.Error;
    }

    /// <summary>After a protocol error: our close with its code, then the end of the socket.</summary>
    private WebSocketException ProtocolFailure()
    {
        var reason = "Protocol error: " + _failure;
        SendCloseUnchecked((WebSocketCloseStatus)_failureCode, _failure!.Length <= 123 ? _failure : _failure[..123]);
        lock (_stateLock)
        {
            _state = WebSocketState.Aborted;
        }

        Finish(abort: false);
        return new WebSocketException(WebSocketError.Faulted, reason);
    }

    private void OnCloseReceived()
    {
        bool both;
        lock (_stateLock)
        {
            both = _closeSent;
            if (_state is WebSocketState.Open)
            {
                _state = WebSocketState.CloseReceived;
            }
            else if (_state is WebSocketState.CloseSent)
            {
                _state = WebSocketState.Closed;
            }
        }

        if (both)
        {
            Finish(abort: false);
        }
    }

    private void ThrowIfCannotReceive()
    {
        var state = _state;
        if (state is not (WebSocketState.Open or WebSocketState.CloseSent))
        {
            throw state == WebSocketState.Aborted ? Aborted() : new WebSocketException(WebSocketError.InvalidState, $"The WebSocket is {state}: nothing more can be received.");
        }
    }

    private static WebSocketException Aborted(Exception? inner = null) =>
        new(WebSocketError.InvalidState, "The WebSocket was aborted.", inner);

    private WebSocketException Ended()
    {
        lock (_stateLock)
        {
            if (_state != WebSocketState.Closed)
            {
                _state = WebSocketState.Aborted;
            }
        }

        Finish(abort: true);
        return new WebSocketException(WebSocketError.ConnectionClosedPrematurely, "The remote party closed the WebSocket connection without completing the close handshake.");
    }

    // ----- sending -----

    public override Task SendAsync(ArraySegment<byte> buffer, WebSocketMessageType messageType, bool endOfMessage, CancellationToken cancellationToken) =>
        SendAsync(buffer.AsMemory(), messageType, endOfMessage, cancellationToken).AsTask();

    public override ValueTask SendAsync(ReadOnlyMemory<byte> buffer, WebSocketMessageType messageType, bool endOfMessage, CancellationToken cancellationToken) =>
        SendAsync(buffer, messageType, endOfMessage ? WebSocketMessageFlags.EndOfMessage : WebSocketMessageFlags.None, cancellationToken);

    public override ValueTask SendAsync(ReadOnlyMemory<byte> buffer, WebSocketMessageType messageType, WebSocketMessageFlags messageFlags, CancellationToken cancellationToken)
    {
        if (messageType is not (WebSocketMessageType.Text or WebSocketMessageType.Binary))
        {
            return ValueTask.FromException(new ArgumentException("Only text and binary messages are sent with SendAsync.", nameof(messageType)));
        }

        if (cancellationToken.IsCancellationRequested)
        {
            return ValueTask.FromCanceled(cancellationToken);
        }

        if (Volatile.Read(ref _queued) > _options.MaxQueuedBytes)
        {
            return SendWhenRoomAsync(buffer, messageType, messageFlags, cancellationToken);
        }

        try
        {
            SendNow(buffer.Span, messageType, messageFlags);
            return ValueTask.CompletedTask;
        }
        catch (Exception ex)
        {
            return ValueTask.FromException(ex);
        }
    }

    /// <summary>
    /// Queues one whole message without waiting for room, however much is queued: for small messages that must never
    /// wait behind data (a cranker_3.0 acknowledgement or reset written from a receive loop). False if nothing can be
    /// sent any more.
    /// </summary>
    internal bool TrySendUnbounded(ReadOnlySpan<byte> payload, WebSocketMessageType messageType)
    {
        try
        {
            SendNow(payload, messageType, WebSocketMessageFlags.EndOfMessage);
            return true;
        }
        catch (WebSocketException)
        {
            return false;
        }
    }

    private async ValueTask SendWhenRoomAsync(ReadOnlyMemory<byte> buffer, WebSocketMessageType messageType, WebSocketMessageFlags messageFlags, CancellationToken cancellationToken)
    {
        await WaitForRoomAsync(forClose: false, cancellationToken).ConfigureAwait(false);
        SendNow(buffer.Span, messageType, messageFlags);
    }

    /// <summary>
    /// Waits until at most <see cref="PutshWebSocketOptions.MaxQueuedBytes"/> are unsent. A data send gives up with the
    /// socket's failure; a close (<paramref name="forClose"/>) just stops waiting, since nothing more will leave.
    /// </summary>
    private async ValueTask WaitForRoomAsync(bool forClose, CancellationToken cancellationToken)
    {
        while (Volatile.Read(ref _queued) > _options.MaxQueuedBytes)
        {
            Task room;
            lock (_writeLock)
            {
                if (Volatile.Read(ref _queued) <= _options.MaxQueuedBytes || (forClose && _sendError is not null))
                {
                    return;
                }

                if (!forClose)
                {
                    ThrowIfCannotSend();
                }

                _room ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                room = _room.Task;
            }

            await room.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    private void SendNow(ReadOnlySpan<byte> payload, WebSocketMessageType messageType, WebSocketMessageFlags messageFlags)
    {
        var fin = (messageFlags & WebSocketMessageFlags.EndOfMessage) != 0;
        lock (_writeLock)
        {
            ThrowIfCannotSend();
            var opcode = _sendInMessage ? WsOpcode.Continuation : messageType == WebSocketMessageType.Text ? WsOpcode.Text : WsOpcode.Binary;
            _sendInMessage = !fin;
            WriteFrameLocked(fin, opcode, payload);
        }
    }

    private void ThrowIfCannotSend()
    {
        if (_sendError is { } error)
        {
            throw new WebSocketException(WebSocketError.ConnectionClosedPrematurely, "The connection failed: " + error.Message, error);
        }

        var state = _state;
        if (state is not (WebSocketState.Open or WebSocketState.CloseReceived) || _closeSent)
        {
            throw state == WebSocketState.Aborted ? Aborted() : new WebSocketException(WebSocketError.InvalidState, $"The WebSocket is {state}: nothing more can be sent.");
        }
    }

    /// <summary>Writes one frame into the queue and makes it visible to the send loop. Callers hold the write lock.</summary>
    private void WriteFrameLocked(bool fin, WsOpcode opcode, ReadOnlySpan<byte> payload)
    {
        var writer = _queue.Writer;
        int? key = _isServer ? null : WsMaskKeys.Next();
        var header = writer.GetSpan(WsFrameWriter.MaxHeaderLength);
        var n = WsFrameWriter.WriteHeader(header, fin, opcode, payload.Length, key);
        writer.Advance(n);
        long offset = 0;
        while (!payload.IsEmpty)
        {
            var span = writer.GetSpan();
            var take = Math.Min(span.Length, payload.Length);
            if (key is { } k)
            {
                WsMask.Copy(payload[..take], span, k, offset);
            }
            else
            {
                payload[..take].CopyTo(span);
            }

            writer.Advance(take);
            payload = payload[take..];
            offset += take;
        }

        Interlocked.Add(ref _queued, n + offset);
        // Never pauses (no threshold): completes at once and wakes the send loop.
        var flush = writer.FlushAsync();
        System.Diagnostics.Debug.Assert(flush.IsCompleted, "A queue without a pause threshold flushes at once.");
        _ = flush.Result;
    }

    /// <summary>Queues a control frame at once, whatever data waits; dropped once our close has gone.</summary>
    private void WriteControl(WsOpcode opcode, ReadOnlySpan<byte> payload)
    {
        lock (_writeLock)
        {
            if (_closeSent || _sendError is not null || _state == WebSocketState.Aborted)
            {
                return;
            }

            WriteFrameLocked(fin: true, opcode, payload);
        }
    }

    private async Task SendLoopAsync()
    {
        await Task.Yield();
        var reader = _queue.Reader;
        try
        {
            while (true)
            {
                var read = await reader.ReadAsync().ConfigureAwait(false);
                var buffer = read.Buffer;
                if (!buffer.IsEmpty)
                {
                    await _transport.SendAsync(buffer, CancellationToken.None).ConfigureAwait(false);
                }

                var sent = buffer.Length;
                reader.AdvanceTo(buffer.End);
                if (sent > 0)
                {
                    OnSent(sent);
                }

                if (read.IsCompleted)
                {
                    break;
                }
            }

            await _transport.CompleteOutputAsync().ConfigureAwait(false);
            if (_state is WebSocketState.Closed or WebSocketState.Aborted)
            {
                // Both closes seen (or the socket given up after its last frame): the connection is finished.
                _transport.Close();
            }
        }
        catch (Exception ex)
        {
            _sendError = ex;
            lock (_stateLock)
            {
                if (_state != WebSocketState.Closed)
                {
                    _state = WebSocketState.Aborted;
                }
            }

            _transport.Abort();
            _closed.TrySetResult();
        }
        finally
        {
            reader.Complete();
            WakeWriters();
        }
    }

    private void OnSent(long sent)
    {
        if (Interlocked.Add(ref _queued, -sent) <= _options.MaxQueuedBytes && Volatile.Read(ref _room) is not null)
        {
            WakeWriters();
        }
    }

    private void WakeWriters()
    {
        TaskCompletionSource? room;
        lock (_writeLock)
        {
            room = _room;
            _room = null;
        }

        room?.TrySetResult();
    }

    // ----- closing -----

    public override async Task CloseOutputAsync(WebSocketCloseStatus closeStatus, string? statusDescription, CancellationToken cancellationToken)
    {
        ValidateClose(closeStatus, statusDescription);
        var state = _state;
        if (state is WebSocketState.Closed or WebSocketState.Aborted || _closeSent)
        {
            if (state == WebSocketState.Aborted)
            {
                throw Aborted();
            }

            return;
        }

        // Data queued before the close leaves before it; this waits only for room, as a data send would.
        await WaitForRoomAsync(forClose: true, cancellationToken).ConfigureAwait(false);

        if (!SendCloseUnchecked(closeStatus, statusDescription))
        {
            return;
        }

        bool both;
        lock (_stateLock)
        {
            both = _closeReceived;
            if (_state == WebSocketState.Open)
            {
                _state = WebSocketState.CloseSent;
            }
            else if (_state == WebSocketState.CloseReceived)
            {
                _state = WebSocketState.Closed;
            }
        }

        if (both)
        {
            Finish(abort: false);
        }
    }

    public override async Task CloseAsync(WebSocketCloseStatus closeStatus, string? statusDescription, CancellationToken cancellationToken)
    {
        await CloseOutputAsync(closeStatus, statusDescription, cancellationToken).ConfigureAwait(false);
        if (_state is WebSocketState.Closed or WebSocketState.Aborted)
        {
            return;
        }

        if (Volatile.Read(ref _receiving) == 1)
        {
            // Someone else is reading; their read will see the close.
            await _closed.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
            return;
        }

        var scratch = ArrayPool<byte>.Shared.Rent(1024);
        try
        {
            while ((await ReceiveAsync(scratch.AsMemory(), cancellationToken).ConfigureAwait(false)).MessageType != WebSocketMessageType.Close)
            {
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(scratch);
        }
    }

    private static void ValidateClose(WebSocketCloseStatus status, string? description)
    {
        if (status == WebSocketCloseStatus.Empty && !string.IsNullOrEmpty(description))
        {
            throw new ArgumentException("A close without a status cannot have a description.", nameof(description));
        }

        if (description is not null && Encoding.UTF8.GetByteCount(description) > 123)
        {
            throw new ArgumentException("A close description is at most 123 UTF-8 bytes (RFC 6455 §5.5).", nameof(description));
        }
    }

    /// <summary>Queues our close frame unless one went already; returns whether this call sent it.</summary>
    private bool SendCloseUnchecked(WebSocketCloseStatus status, string? description)
    {
        lock (_writeLock)
        {
            if (_closeSent || _sendError is not null)
            {
                return false;
            }

            Span<byte> payload = stackalloc byte[MaxControlPayload];
            var n = 0;
            if (status != WebSocketCloseStatus.Empty)
            {
                BinaryPrimitives.WriteUInt16BigEndian(payload, (ushort)status);
                n = 2 + Encoding.UTF8.GetBytes(description ?? "", payload[2..]);
            }

            WriteFrameLocked(fin: true, WsOpcode.Close, payload[..n]);
            _closeSent = true;
            return true;
        }
    }

    /// <summary>Ends the socket: the queue is completed (what it holds is still sent, then the sending side shut), or everything torn down at once.</summary>
    private void Finish(bool abort)
    {
        _heartbeat?.Remove(this);
        lock (_writeLock)
        {
            if (!_queueCompleted)
            {
                _queueCompleted = true;
                _queue.Writer.Complete();
            }
        }

        if (abort)
        {
            _transport.Abort();
        }

        _closed.TrySetResult();
    }

    public override void Abort()
    {
        lock (_stateLock)
        {
            if (_state == WebSocketState.Closed)
            {
                return;
            }

            _state = WebSocketState.Aborted;
        }

        Finish(abort: true);
    }

    public override void Dispose()
    {
        lock (_stateLock)
        {
            if (_state != WebSocketState.Closed)
            {
                _state = WebSocketState.Aborted;
            }
        }

        // A closed socket's last frames may still be on their way: the send loop shuts the connection after them.
        Finish(abort: _state == WebSocketState.Aborted);
    }

    /// <summary>
    /// Ends the socket as <see cref="Dispose"/> does, then waits, at most <see cref="DrainTimeout"/>, for what is
    /// queued to leave: a server whose connection ends when its handler returns must not lose its close echo.
    /// </summary>
    public async ValueTask DisposeAsync()
    {
        Dispose();
        try
        {
            await _sendLoop.WaitAsync(DrainTimeout, _options.Time).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            _transport.Abort();
        }
    }

    // ----- keep-alive -----

    /// <summary>Called by the heartbeat: sends a ping (or pong) when one is due, and aborts on an unanswered ping.</summary>
    internal void OnHeartbeat(long now)
    {
        var time = _options.Time;
        if (_state is not (WebSocketState.Open or WebSocketState.CloseReceived or WebSocketState.CloseSent))
        {
            _heartbeat?.Remove(this);
            return;
        }

        var checkPong = _options.KeepAliveTimeout != Timeout.InfiniteTimeSpan;
        var outstanding = Volatile.Read(ref _pingOutstandingSince);
        if (checkPong && outstanding != 0 && time.GetElapsedTime(outstanding, now) >= _options.KeepAliveTimeout)
        {
            _sendError ??= new TimeoutException($"No pong within {(Diagnostics.ReadableDuration)_options.KeepAliveTimeout} of a ping.");
            Abort();
            return;
        }

        if (time.GetElapsedTime(Volatile.Read(ref _lastPing), now) < _options.KeepAliveInterval)
        {
            return;
        }

        Volatile.Write(ref _lastPing, now);
        Span<byte> payload = stackalloc byte[8];
        BinaryPrimitives.WriteInt64BigEndian(payload, Interlocked.Increment(ref _pingCounter));
        if (checkPong)
        {
            if (outstanding == 0)
            {
                Volatile.Write(ref _pingOutstandingSince, now);
            }

            WriteControl(WsOpcode.Ping, payload);
        }
        else
        {
            WriteControl(WsOpcode.Pong, payload);
        }
    }
}
