namespace Putsh.Router.Hosting;

/// <summary>The sizes of the router's I/O buffer pool (<c>AddPutshBlockPool</c>).</summary>
internal sealed class BlockPoolOptions
{
    /// <summary>The smallest block size accepted: Kestrel's own.</summary>
    public const int MinBlockSize = 4096;

    /// <summary>The largest block size accepted.</summary>
    public const int MaxBlockSize = 1024 * 1024;

    /// <summary>
    /// Bytes in each buffer Kestrel reads into and writes from, and so the most one <c>recv</c> returns. Default 64 KiB
    /// (Kestrel's own pool: 4 KiB); 4096 to 1 MiB.
    /// </summary>
    public int BlockSize { get; set; } = 64 * 1024;

    /// <summary>The most memory kept in free blocks for reuse, per pool; more is given back to the runtime. Default 16 MiB.</summary>
    public long MaxRetainedBytes { get; set; } = 16L * 1024 * 1024;

    /// <summary>
    /// How often free blocks that stayed unused are let go (half of them at a time). Default 10 s; zero or less keeps
    /// them (up to <see cref="MaxRetainedBytes"/>).
    /// </summary>
    public TimeSpan EvictionPeriod { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Throws <see cref="ArgumentOutOfRangeException"/> for a value out of range.</summary>
    public void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(BlockSize, MinBlockSize, nameof(BlockSize));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(BlockSize, MaxBlockSize, nameof(BlockSize));
        ArgumentOutOfRangeException.ThrowIfNegative(MaxRetainedBytes, nameof(MaxRetainedBytes));
    }
}
