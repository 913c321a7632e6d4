namespace Putsh.Protocol.V3;

/// <summary>
/// A stream's inbound DATA read as a <see cref="Stream"/>: the connector's request body, read by the target call or
/// an in-process handler. Each chunk is acknowledged (<c>WINDOW_UPDATE</c>, §5.6) once all of it has been read,
/// which is what keeps the peer's sender, and so the queue, within its window plus one message.
/// </summary>
/// <param name="inbound">The stream's inbound queue; disposed with this stream.</param>
/// <param name="acknowledge">Queues the WINDOW_UPDATE for bytes consumed; must not wait.</param>
internal sealed class V3InboundStream(V3Inbound inbound, Action<int> acknowledge) : Stream
{
    private V3Chunk _current;
    private bool _hasCurrent;
    private int _offset;

    /// <summary>The queue behind this stream.</summary>
    public V3Inbound Inbound => inbound;

    public override async ValueTask<int> ReadAsync(Memory<byte> destination, CancellationToken cancellationToken = default)
    {
        while (!_hasCurrent || _offset == _current.Length)
        {
            if (_hasCurrent)
            {
                ReleaseCurrent();
            }

            if (!await NextAsync(cancellationToken).ConfigureAwait(false))
            {
                return 0;
            }
        }

        var n = Math.Min(destination.Length, _current.Length - _offset);
        _current.Span.Slice(_offset, n).CopyTo(destination.Span);
        _offset += n;
        if (_offset == _current.Length)
        {
            ReleaseCurrent();
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
            if (!_hasCurrent)
            {
                if (!inbound.TryRead(out _current))
                {
                    if (unflushed)
                    {
                        await destination.FlushAsync(cancellationToken).ConfigureAwait(false);
                        unflushed = false;
                    }

                    if (!await NextAsync(cancellationToken).ConfigureAwait(false))
                    {
                        return; // the end of the body: the handler flushes it with its own end
                    }
                }
                else
                {
                    (_hasCurrent, _offset) = (true, 0);
                }
            }

            if (_current.Length > _offset)
            {
                await destination.WriteAsync(_current.Memory[_offset..], cancellationToken).ConfigureAwait(false);
                unflushed = true;
            }

            ReleaseCurrent();
        }
    }

    /// <summary>Takes the next chunk; false at END_STREAM; throws when the stream ended any other way.</summary>
    private async ValueTask<bool> NextAsync(CancellationToken cancellationToken)
    {
        (var read, _current) = await inbound.ReadAsync(cancellationToken).ConfigureAwait(false);
        if (!read)
        {
            return inbound.Ending == V3InboundEnd.EndStream
                ? false
                : throw new OperationCanceledException(inbound.Ending == V3InboundEnd.Reset ? "The router reset the stream." : "The stream ended before its body did.");
        }

        (_hasCurrent, _offset) = (true, 0);
        return true;
    }

    /// <summary>The current chunk is consumed: its buffer goes back, and its credit to the peer (§5.6), batched if a larger window was agreed.</summary>
    private void ReleaseCurrent()
    {
        var length = _current.Length;
        inbound.Release(_current);
        (_current, _hasCurrent, _offset) = (default, false, 0);
        if (inbound.OnConsumed(length) is var ack and > 0)
        {
            acknowledge(ack);
        }
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer, offset, count).GetAwaiter().GetResult();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            if (_hasCurrent)
            {
                inbound.Release(_current);
                (_current, _hasCurrent) = (default, false);
            }

            inbound.Dispose();
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
