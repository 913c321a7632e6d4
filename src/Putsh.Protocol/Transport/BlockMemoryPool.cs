using System.Buffers;
using System.Collections.Concurrent;

namespace Putsh.Protocol.Transport;

/// <summary>
/// A memory pool of large, pinned, fixed-size blocks: the router's Kestrel socket transport reads and writes through
/// one, and every <see cref="WebSockets.PutshWebSocket"/> reads and queues its frames in <see cref="Sockets"/>.
/// </summary>
/// <remarks>
/// Kestrel's own pool hands out 4 KiB blocks, and its socket transport reads into one block at a time, so a
/// connection that carries a lot of data (a connector socket, a big upload) costs one <c>recv</c> per 2–4 KiB.
/// With 64 KiB blocks the same transfer takes a sixteenth of the system calls and wake-ups: measured on this
/// project's rig, router syscalls per 10 MiB download fell from 5,100 <c>recv</c>s to 410 and single-stream
/// throughput rose by a third (downloads) to a half (uploads), with no cost to small requests. Blocks are reused
/// through a lock-free free list, so renting allocates nothing once warm, however many are out at once (the shared
/// array pool keeps a few dozen arrays per size and core, and drops the rest when they come back); at most
/// <c>maxRetainedBytes</c> are kept, and blocks that stay unused for a whole eviction period are let go, half of the
/// surplus at a time, so memory taken by a burst goes back to the runtime when the burst is over.
/// </remarks>
internal sealed class BlockMemoryPool : MemoryPool<byte>
{
    private readonly ConcurrentQueue<Block> _free = new();
    private readonly int _blockSize;
    private readonly int _maxRetained;
    private readonly ITimer? _evictionTimer;
    private int _freeCount;
    private int _lowWater;
    private volatile bool _disposed;

    /// <summary>
    /// The blocks every putsh WebSocket of the process reads into and queues its frames in: 64 KiB each, up to 8 MiB of
    /// free ones kept (a connector's ten sockets with full queues need 2.5 MiB), idle ones let go every 10 s. A pool
    /// of its own because the shared array pool keeps only a few dozen arrays per size: with ten queues filling and
    /// draining it dropped most of them, and under 64 concurrent 100 KiB responses the connector allocated 38 MB/s,
    /// much of it 128 KiB segments on the large-object heap (16 MB/s with this pool).
    /// </summary>
    public static readonly BlockMemoryPool Sockets = new(64 * 1024, 8L * 1024 * 1024, TimeSpan.FromSeconds(10), TimeProvider.System);

    /// <summary>A pool of <paramref name="blockSize"/> blocks keeping at most <paramref name="maxRetainedBytes"/> of free ones.</summary>
    /// <param name="blockSize">Bytes per block (positive).</param>
    /// <param name="maxRetainedBytes">The most memory kept in free blocks; more is dropped for the runtime to reclaim.</param>
    /// <param name="evictionPeriod">How often free blocks unused for a whole period are let go, half at a time; zero or less keeps them.</param>
    /// <param name="time">The clock of the eviction timer.</param>
    public BlockMemoryPool(int blockSize, long maxRetainedBytes, TimeSpan evictionPeriod, TimeProvider time)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(blockSize);
        ArgumentOutOfRangeException.ThrowIfNegative(maxRetainedBytes);
        _blockSize = blockSize;
        _maxRetained = (int)Math.Min(int.MaxValue, maxRetainedBytes / blockSize);
        if (evictionPeriod > TimeSpan.Zero)
        {
            _evictionTimer = time.CreateTimer(static s => ((BlockMemoryPool)s!).Evict(), this, evictionPeriod, evictionPeriod);
        }
    }

    /// <summary>The size of every pooled block: larger requests get a block of their own that is not pooled.</summary>
    public override int MaxBufferSize => _blockSize;

    /// <summary>Blocks waiting in the free list.</summary>
    public int RetainedBlocks => Volatile.Read(ref _freeCount);

    public override IMemoryOwner<byte> Rent(int minBufferSize = -1)
    {
        if (minBufferSize > _blockSize)
        {
            return new Block(null, new byte[minBufferSize]);
        }

        if (_free.TryDequeue(out var block))
        {
            var count = Interlocked.Decrement(ref _freeCount);
            if (count < Volatile.Read(ref _lowWater))
            {
                Volatile.Write(ref _lowWater, count); // a heuristic: a lost race only delays eviction by a period
            }

            block.Rented();
            return block;
        }

        return new Block(this, GC.AllocateUninitializedArray<byte>(_blockSize, pinned: true));
    }

    private void Return(Block block)
    {
        if (_disposed || Volatile.Read(ref _freeCount) >= _maxRetained)
        {
            return; // dropped: the runtime reclaims it
        }

        Interlocked.Increment(ref _freeCount);
        _free.Enqueue(block);
    }

    /// <summary>Lets go of half the blocks that stayed in the free list for the whole period just ended.</summary>
    internal void Evict()
    {
        var idle = Math.Min(Volatile.Read(ref _lowWater), Volatile.Read(ref _freeCount));
        for (var release = (idle + 1) / 2; release > 0 && _free.TryDequeue(out _); release--)
        {
            Interlocked.Decrement(ref _freeCount);
        }

        Volatile.Write(ref _lowWater, Volatile.Read(ref _freeCount)); // the next period's low-water mark starts here
    }

    protected override void Dispose(bool disposing)
    {
        _disposed = true;
        _evictionTimer?.Dispose();
        _free.Clear();
        Volatile.Write(ref _freeCount, 0);
    }

    private sealed class Block(BlockMemoryPool? pool, byte[] array) : IMemoryOwner<byte>
    {
        private int _returned;

        public Memory<byte> Memory => Volatile.Read(ref _returned) == 0 ? array : throw new ObjectDisposedException(nameof(BlockMemoryPool));

        public void Rented() => Volatile.Write(ref _returned, 0);

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _returned, 1) == 0)
            {
                pool?.Return(this);
            }
        }
    }
}
