using System.Buffers;
using System.Threading.Channels;

namespace Putsh.Protocol.V3;

/// <summary>How the inbound side of a stream ended.</summary>
internal enum V3InboundEnd
{
    /// <summary>Not ended yet.</summary>
    Open,

    /// <summary>END_STREAM arrived (§5.4): everything queued is the whole of it.</summary>
    EndStream,

    /// <summary>The peer reset the stream (§5.5); <see cref="V3Inbound.EndCode"/> is its error code.</summary>
    Reset,

    /// <summary>The session ended, or this end found the peer at fault (§5.7); <see cref="V3Inbound.EndCode"/> is what the owner recorded.</summary>
    SessionEnded,

    /// <summary>This end gave the stream up (its consumer went away).</summary>
    Abandoned,
}

/// <summary>One piece of a stream's inbound side: a DATA payload in a pooled buffer, or (at the router) the response head.</summary>
internal readonly struct V3Chunk
{
    internal V3Chunk(byte[]? buffer, int offset, int length, bool endStream, V3HeadBuffer? head)
    {
        Buffer = buffer;
        Offset = offset;
        Length = length;
        EndStream = endStream;
        Head = head;
    }

    internal byte[]? Buffer { get; }

    internal int Offset { get; }

    /// <summary>Payload bytes (0 for a head, or for an empty DATA that only ends the stream).</summary>
    public int Length { get; }

    /// <summary>The message carried END_STREAM.</summary>
    public bool EndStream { get; }

    /// <summary>A complete response head, owned by the chunk until it is released.</summary>
    public V3HeadBuffer? Head { get; }

    public ReadOnlySpan<byte> Span => Buffer is null ? default : Buffer.AsSpan(Offset, Length);

    public ReadOnlyMemory<byte> Memory => Buffer is null ? default : Buffer.AsMemory(Offset, Length);
}

/// <summary>
/// The inbound side of one cranker_3.0 stream, the one queue behind a router's response, a connector's request body
/// and a tunnelled WebSocket: the receive loop hands it each DATA payload (the reader's pooled buffer taken, not
/// copied, when it is large) and never waits; the consumer takes them in order at its own pace and acknowledges
/// what it has consumed (§5.6), batched as <see cref="AckBatcher"/> decides. As in an HTTP/2 stream's input flow
/// control, a peer that sends past its window (and the overrun allowance) is refused, and the owner resets the
/// stream. The end (END_STREAM, a reset, the session's end, or the consumer giving up) is recorded once and read
/// after everything queued before it.
/// </summary>
/// <remarks>
/// A chunk queue rather than a <c>Pipe</c>: each payload already sits in a pooled buffer of its own, which a pipe
/// would copy once more; here the bytes are copied only into the consumer's output.
/// </remarks>
internal sealed class V3Inbound : IDisposable
{
    private readonly Channel<V3Chunk> _chunks = Channel.CreateUnbounded<V3Chunk>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = false, AllowSynchronousContinuations = true });
    private readonly long _overrunLimit;
    private readonly AckBatcher _acks;
    private readonly InboundBudget? _budget;
    private readonly Lock _endLock = new();
    private long _queued;
    private V3InboundEnd _end;
    private int _endCode;
    private string? _endText;

    /// <param name="window">The stream's flow-control window (§5.6, or what <c>flow-window</c> agreed).</param>
    /// <param name="budget">Where the bytes held are also counted, if anywhere.</param>
    public V3Inbound(int window, InboundBudget? budget = null)
    {
        _overrunLimit = FlowWindow.OverrunLimit(window);
        _acks = new AckBatcher(window);
        _budget = budget;
    }

    /// <summary>Payload bytes queued and not yet released.</summary>
    public long Queued => Interlocked.Read(ref _queued);

    /// <summary>How the stream ended; <see cref="V3InboundEnd.Open"/> until then.</summary>
    public V3InboundEnd Ending
    {
        get
        {
            lock (_endLock)
            {
                return _end;
            }
        }
    }

    /// <summary>The reset's error code, or the code the owner gave with <see cref="V3InboundEnd.SessionEnded"/>.</summary>
    public int EndCode
    {
        get
        {
            lock (_endLock)
            {
                return _endCode;
            }
        }
    }

    /// <summary>The reset's message, or the owner's detail for the end.</summary>
    public string? EndText
    {
        get
        {
            lock (_endLock)
            {
                return _endText;
            }
        }
    }

    /// <summary>
    /// Queues a DATA payload (receive loop); false, queuing nothing, when the peer has sent past its window. A
    /// payload after the end is dropped.
    /// </summary>
    public bool TryEnqueue(V3Payload payload, bool endStream)
    {
        var length = payload.Length;
        if (Interlocked.Add(ref _queued, length) > _overrunLimit)
        {
            Interlocked.Add(ref _queued, -length);
            return false;
        }

        byte[]? buffer = null;
        var offset = 0;
        if (length > 0)
        {
            buffer = payload.ToPooled(out offset);
        }

        _budget?.Add(length);
        if (!_chunks.Writer.TryWrite(new V3Chunk(buffer, offset, length, endStream, head: null)))
        {
            Release(new V3Chunk(buffer, offset, length, endStream, head: null));
        }
        else if (endStream)
        {
            End(V3InboundEnd.EndStream);
        }

        return true;
    }

    /// <summary>Queues a complete head (the router's response head), which the chunk owns until released.</summary>
    public void EnqueueHead(V3HeadBuffer head, bool endStream)
    {
        if (!_chunks.Writer.TryWrite(new V3Chunk(null, 0, 0, endStream, head)))
        {
            head.Dispose();
        }
        else if (endStream)
        {
            End(V3InboundEnd.EndStream);
        }
    }

    /// <summary>Records the end (the first one counts) and stops taking chunks; what is queued is still read first.</summary>
    public void End(V3InboundEnd reason, int code = 0, string? text = null)
    {
        lock (_endLock)
        {
            if (_end == V3InboundEnd.Open)
            {
                (_end, _endCode, _endText) = (reason, code, text);
            }
        }

        _chunks.Writer.TryComplete();
    }

    /// <summary>The next chunk, if one is queued.</summary>
    public bool TryRead(out V3Chunk chunk) => _chunks.Reader.TryRead(out chunk);

    /// <summary>The next chunk, waiting for one if need be; Read is false once the stream has ended and everything queued was read (then see <see cref="Ending"/>).</summary>
    [System.Runtime.CompilerServices.AsyncMethodBuilder(typeof(System.Runtime.CompilerServices.PoolingAsyncValueTaskMethodBuilder<>))]
    public async ValueTask<(bool Read, V3Chunk Chunk)> ReadAsync(CancellationToken cancellationToken = default)
    {
        V3Chunk chunk;
        while (!_chunks.Reader.TryRead(out chunk))
        {
            if (!await _chunks.Reader.WaitToReadAsync(cancellationToken).ConfigureAwait(false))
            {
                return (false, default);
            }
        }

        return (true, chunk);
    }

    /// <summary>Another chunk is queued behind the one being consumed.</summary>
    public bool HasQueued => _chunks.Reader.TryPeek(out _);

    /// <summary>Records <paramref name="bytes"/> as consumed; returns how many to acknowledge now (§5.6), or 0 to wait.</summary>
    public int OnConsumed(int bytes) => _acks.OnConsumed(bytes, HasQueued);

    /// <summary>Gives a chunk's buffer (or head) back and uncounts its bytes.</summary>
    public void Release(in V3Chunk chunk)
    {
        chunk.Head?.Dispose();
        if (chunk.Length > 0)
        {
            Interlocked.Add(ref _queued, -chunk.Length);
            _budget?.Add(-chunk.Length);
        }

        if (chunk.Buffer is { } buffer)
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>Ends the stream (as abandoned, unless it had ended) and gives back everything still queued.</summary>
    public void Dispose()
    {
        End(V3InboundEnd.Abandoned);
        while (_chunks.Reader.TryRead(out var chunk))
        {
            Release(chunk);
        }
    }
}
