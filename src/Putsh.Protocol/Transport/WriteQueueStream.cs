using System.Buffers;
using System.IO.Pipelines;
using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace Putsh.Protocol.Transport;

/// <summary>
/// A TCP connection as a stream whose writes are queued and sent by one loop of its own. A write returns as soon as
/// its bytes are queued (it waits only while more than <see cref="MaxQueuedBytes"/> are queued), and everything
/// queued while a send is in progress leaves in the next single gathering send. A WebSocket over this stream pays one
/// system call for a burst of small messages (a head, its acknowledgement, a short body and its end) instead of one
/// each, and its pongs are never stuck behind a send the network is holding up.
/// </summary>
/// <remarks>
/// Like a <see cref="NetworkStream"/>, one read and one write may be in progress at a time, concurrently. A failed
/// send makes every later write throw <see cref="IOException"/>. Disposing sends what is queued first, for at most
/// <see cref="DrainTimeout"/>, then closes the socket.
/// </remarks>
internal sealed class WriteQueueStream : Stream
{
    /// <summary>Queued bytes above which writers wait: four 64 KiB Cranker frames.</summary>
    public const int MaxQueuedBytes = 256 * 1024;

    /// <summary>How long disposal waits for queued bytes to leave before it closes the socket anyway.</summary>
    public static readonly TimeSpan DrainTimeout = TimeSpan.FromSeconds(2);

    private readonly Socket _socket;
    private readonly NetworkStream _reads;
    private readonly Pipe _queue;
    private readonly Task _sendLoop;
    private readonly List<ArraySegment<byte>> _gather = [];
    private volatile Exception? _sendError;
    private int _disposed;

    /// <summary>
    /// The blocks every <see cref="WriteQueueStream"/> of the process queues into unless given a pool: 64 KiB each, up
    /// to 8 MiB of free ones kept (a connector's ten sockets with full queues need 2.5 MiB), idle ones let go every
    /// 10 s. A dedicated pool because the shared array pool keeps only a few dozen arrays per size: with ten queues
    /// filling and draining it dropped most of them, and under 64 concurrent 100 KiB responses the connector
    /// allocated 38 MB/s, much of it 128 KiB segments on the large-object heap (16 MB/s with this pool).
    /// </summary>
    internal static readonly BlockMemoryPool SharedPool = new(64 * 1024, 8L * 1024 * 1024, TimeSpan.FromSeconds(10), TimeProvider.System);

    /// <summary>Takes ownership of a connected <paramref name="socket"/> and starts its send loop.</summary>
    /// <param name="socket">The connected socket.</param>
    /// <param name="pool">Where queued bytes live; <see cref="SharedPool"/> if not given.</param>
    public WriteQueueStream(Socket socket, MemoryPool<byte>? pool = null)
    {
        _socket = socket;
        _reads = new NetworkStream(socket, ownsSocket: false);
        _queue = new Pipe(new PipeOptions(
            pool: pool ?? SharedPool,
            pauseWriterThreshold: MaxQueuedBytes,
            resumeWriterThreshold: MaxQueuedBytes / 2,
            minimumSegmentSize: 4096,
            useSynchronizationContext: false));
        _sendLoop = SendLoopAsync();
    }

    /// <inheritdoc/>
    public override bool CanRead => true;

    /// <inheritdoc/>
    public override bool CanWrite => true;

    /// <inheritdoc/>
    public override bool CanSeek => false;

    /// <inheritdoc/>
    public override long Length => throw new NotSupportedException();

    /// <inheritdoc/>
    public override long Position
    {
        get => throw new NotSupportedException();
        set => throw new NotSupportedException();
    }

    /// <inheritdoc/>
    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
        _reads.ReadAsync(buffer, cancellationToken);

    /// <inheritdoc/>
    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        _reads.ReadAsync(buffer, offset, count, cancellationToken);

    /// <inheritdoc/>
    public override int Read(byte[] buffer, int offset, int count) => _reads.Read(buffer, offset, count);

    /// <inheritdoc/>
    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (_sendError is { } error)
        {
            return ValueTask.FromException(new IOException("The connection failed: " + error.Message, error));
        }

        if (buffer.IsEmpty)
        {
            return ValueTask.CompletedTask;
        }

        ValueTask<FlushResult> flush;
        try
        {
            // Copied into as many blocks as it takes; the gathering send takes each piece as one element.
            var writer = _queue.Writer;
            var source = buffer.Span;
            while (!source.IsEmpty)
            {
                var span = writer.GetSpan();
                var n = Math.Min(span.Length, source.Length);
                source[..n].CopyTo(span);
                writer.Advance(n);
                source = source[n..];
            }

            flush = writer.FlushAsync(cancellationToken);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            return ValueTask.FromException(Closed(ex));
        }

        if (flush.IsCompletedSuccessfully)
        {
            return flush.Result.IsCompleted ? ValueTask.FromException(Closed(null)) : ValueTask.CompletedTask;
        }

        return AwaitRoomAsync(flush);
    }

    /// <inheritdoc/>
    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    /// <inheritdoc/>
    public override void Write(byte[] buffer, int offset, int count) =>
        WriteAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

    /// <summary>Nothing to do: queued bytes are sent as soon as the socket takes them.</summary>
    public override void Flush()
    {
    }

    /// <inheritdoc/>
    public override Task FlushAsync(CancellationToken cancellationToken) =>
        _sendError is { } error ? Task.FromException(new IOException("The connection failed: " + error.Message, error)) : Task.CompletedTask;

    /// <inheritdoc/>
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    /// <inheritdoc/>
    public override void SetLength(long value) => throw new NotSupportedException();

    /// <inheritdoc/>
    protected override void Dispose(bool disposing)
    {
        if (disposing && Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            _queue.Writer.Complete();
            _ = CloseAfterDrainAsync();
        }

        base.Dispose(disposing);
    }

    private async Task CloseAfterDrainAsync()
    {
        try
        {
            await _sendLoop.WaitAsync(DrainTimeout).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            // The peer is not reading: close anyway, which also ends the stuck send.
        }

        _reads.Dispose();
        _socket.Dispose();
        await _sendLoop.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
    }

    private async ValueTask AwaitRoomAsync(ValueTask<FlushResult> flush)
    {
        FlushResult result;
        try
        {
            result = await flush.ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            throw Closed(ex);
        }

        if (result.IsCompleted)
        {
            throw Closed(null);
        }
    }

    private IOException Closed(Exception? cause) =>
        (_sendError ?? cause) is { } error
            ? new IOException("The connection failed: " + error.Message, error)
            : new IOException("The connection is closed.");

    private async Task SendLoopAsync()
    {
        await Task.Yield();
        var reader = _queue.Reader;
        try
        {
            while (true)
            {
                var result = await reader.ReadAsync().ConfigureAwait(false);
                var buffer = result.Buffer;
                if (!buffer.IsEmpty)
                {
                    await SendAsync(buffer).ConfigureAwait(false);
                }

                reader.AdvanceTo(buffer.End);
                if (result.IsCompleted)
                {
                    break;
                }
            }

            reader.Complete();
        }
        catch (Exception ex)
        {
            _sendError = ex;
            reader.Complete(ex);
        }
    }

    private async ValueTask SendAsync(ReadOnlySequence<byte> buffer)
    {
        if (buffer.IsSingleSegment)
        {
            var memory = buffer.First;
            while (!memory.IsEmpty)
            {
                var sent = await _socket.SendAsync(memory, SocketFlags.None).ConfigureAwait(false);
                memory = memory[sent..];
            }

            return;
        }

        _gather.Clear();
        foreach (var segment in buffer)
        {
            if (!MemoryMarshal.TryGetArray(segment, out var array))
            {
                throw new InvalidOperationException("The send queue's memory is not array-backed.");
            }

            _gather.Add(array);
        }

        var remaining = buffer.Length;
        while (true)
        {
            var sent = await _socket.SendAsync(_gather, SocketFlags.None).ConfigureAwait(false);
            remaining -= sent;
            if (remaining <= 0)
            {
                return;
            }

            // A partial send (rare for a blocking-free TCP send): drop what left and go again.
            while (sent > 0)
            {
                var first = _gather[0];
                if (first.Count <= sent)
                {
                    sent -= first.Count;
                    _gather.RemoveAt(0);
                }
                else
                {
                    _gather[0] = first[sent..];
                    sent = 0;
                }
            }
        }
    }
}
