using System.Buffers;
using System.Threading.Channels;
using Putsh.Protocol.V3;

namespace Putsh.Connector.Forwarding;

/// <summary>
/// A request body fed by the socket's receive loop and read by the target call. Each chunk is acknowledged
/// (<c>WINDOW_UPDATE</c>, §5.6) once the target has read all of it, which is what keeps the router's sender, and
/// so this queue, within 64 KiB plus one message.
/// </summary>
/// <param name="acknowledge">Sends the WINDOW_UPDATE for bytes the target has read.</param>
/// <param name="window">The stream's flow-control window: 64 KiB, or what the flow-window extension agreed.</param>
internal sealed class QueuedBodyStream(Func<int, CancellationToken, ValueTask> acknowledge, int window = Putsh.Protocol.V3.V3Frame.HighWatermark) : Stream
{
    /// <summary>Beyond this the router is ignoring flow control, and the stream is reset instead.</summary>
    private readonly long _maxQueuedBytes = Putsh.Protocol.V3.FlowWindow.OverrunLimit(window);

    private readonly AckBatcher _acks = new(window);

    private readonly Channel<(byte[] Buffer, int Offset, int Length)> _chunks = Channel.CreateUnbounded<(byte[], int, int)>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true, AllowSynchronousContinuations = true });
    private byte[]? _current;
    private int _currentEnd;
    private int _currentLength;
    private int _offset;
    private long _queued;

    /// <summary>Queues <paramref name="payload"/> (its buffer taken from the receive loop, not copied); false when the queue is over its bound.</summary>
    public bool Enqueue(V3Payload payload, bool endStream)
    {
        var length = payload.Length;
        if (length > 0)
        {
            if (Interlocked.Add(ref _queued, length) > _maxQueuedBytes)
            {
                return false;
            }

            var buffer = payload.ToPooled(out var offset);
            if (!_chunks.Writer.TryWrite((buffer, offset, length)))
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
        }

        if (endStream)
        {
            _chunks.Writer.TryComplete();
        }

        return true;
    }

    public void Fail(Exception error) => _chunks.Writer.TryComplete(error);

    public override async ValueTask<int> ReadAsync(Memory<byte> destination, CancellationToken cancellationToken = default)
    {
        if (_current is null)
        {
            if (!await _chunks.Reader.WaitToReadAsync(cancellationToken).ConfigureAwait(false) || !_chunks.Reader.TryRead(out var next))
            {
                return 0;
            }

            (_current, _offset, _currentEnd) = (next.Buffer, next.Offset, next.Offset + next.Length);
            _currentLength = next.Length;
        }

        var n = Math.Min(destination.Length, _currentEnd - _offset);
        _current.AsSpan(_offset, n).CopyTo(destination.Span);
        _offset += n;
        if (_offset == _currentEnd)
        {
            await ReleaseCurrentAsync().ConfigureAwait(false);
        }

        return n;
    }

    /// <summary>
    /// Writes the rest of the body to <paramref name="destination"/> as it arrives, each chunk straight from its own
    /// buffer (<paramref name="bufferSize"/> is not used), and flushes whenever no further chunk is queued: a piece
    /// reaches the target as soon as it is here, and pieces that arrived together share one flush. Each chunk is
    /// acknowledged once written.
    /// </summary>
    public override async Task CopyToAsync(Stream destination, int bufferSize, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(destination);
        var unflushed = false;
        while (true)
        {
            if (_current is null)
            {
                if (!_chunks.Reader.TryRead(out var next))
                {
                    if (unflushed)
                    {
                        await destination.FlushAsync(cancellationToken).ConfigureAwait(false);
                        unflushed = false;
                    }

                    if (!await _chunks.Reader.WaitToReadAsync(cancellationToken).ConfigureAwait(false) || !_chunks.Reader.TryRead(out next))
                    {
                        return; // the end of the body: the handler flushes it with its own end
                    }
                }

                (_current, _offset, _currentEnd) = (next.Buffer, next.Offset, next.Offset + next.Length);
                _currentLength = next.Length;
            }

            await destination.WriteAsync(_current.AsMemory(_offset, _currentEnd - _offset), cancellationToken).ConfigureAwait(false);
            unflushed = true;
            await ReleaseCurrentAsync().ConfigureAwait(false);
        }
    }

    /// <summary>The target has taken the whole current chunk: its buffer goes back, and its credit to the router (§5.6).</summary>
    private async ValueTask ReleaseCurrentAsync()
    {
        var length = _currentLength;
        ArrayPool<byte>.Shared.Return(_current!);
        _current = null;
        Interlocked.Add(ref _queued, -length);

        // Batched if a larger window was agreed.
        if (_acks.OnConsumed(length, moreQueued: _chunks.Reader.TryPeek(out _)) is var ack and > 0)
        {
            try
            {
                await acknowledge(ack, CancellationToken.None).ConfigureAwait(false);
            }
            catch (Exception)
            {
                // The socket is gone; the stream will be cancelled.
            }
        }
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer, offset, count).GetAwaiter().GetResult();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _chunks.Writer.TryComplete();
            while (_chunks.Reader.TryRead(out var chunk))
            {
                ArrayPool<byte>.Shared.Return(chunk.Buffer);
            }

            if (_current is not null)
            {
                ArrayPool<byte>.Shared.Return(_current);
                _current = null;
            }
        }

        base.Dispose(disposing);
    }

    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => false;

    public override long Length => throw new NotSupportedException();

    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}
