using Putsh.Protocol.V3;

namespace Putsh.Protocol.Tests;

/// <summary>When a cranker_3.0 receiver acknowledges consumed DATA (§5.6, and batched under the flow-window extension).</summary>
public sealed class AckBatcherTests
{
    [Fact]
    public void With_the_plain_64_KiB_window_every_chunk_is_acknowledged_at_once_even_with_more_queued()
    {
        var acks = new AckBatcher(V3Frame.HighWatermark);
        Assert.Equal(16384, acks.OnConsumed(16384, moreQueued: true));
        Assert.Equal(1, acks.OnConsumed(1, moreQueued: true));
        Assert.Equal(65530, acks.OnConsumed(65530, moreQueued: false));
        Assert.Equal(0, acks.Pending);
    }

    [Fact]
    public void An_empty_chunk_is_never_acknowledged()
    {
        Assert.Equal(0, new AckBatcher(V3Frame.HighWatermark).OnConsumed(0, moreQueued: false));
        Assert.Equal(0, new AckBatcher(1024 * 1024).OnConsumed(0, moreQueued: false));
    }

    [Fact]
    public void With_a_larger_window_chunks_are_batched_up_to_a_quarter_of_it_while_more_is_queued()
    {
        var acks = new AckBatcher(1024 * 1024);
        Assert.Equal(0, acks.OnConsumed(65536, moreQueued: true));
        Assert.Equal(0, acks.OnConsumed(65536, moreQueued: true));
        Assert.Equal(0, acks.OnConsumed(65536, moreQueued: true));
        Assert.Equal(3 * 65536, acks.Pending);
        Assert.Equal(262144, acks.OnConsumed(65536, moreQueued: true)); // a quarter of the window
        Assert.Equal(0, acks.Pending);
        Assert.Equal(0, acks.OnConsumed(100_000, moreQueued: true));
        Assert.Equal(100_000 + 200_000, acks.OnConsumed(200_000, moreQueued: true)); // past the quarter: all of it
    }

    [Fact]
    public void With_a_larger_window_everything_pending_is_acknowledged_once_nothing_more_is_queued()
    {
        var acks = new AckBatcher(1024 * 1024);
        Assert.Equal(0, acks.OnConsumed(1000, moreQueued: true));
        Assert.Equal(1000 + 5, acks.OnConsumed(5, moreQueued: false));
        Assert.Equal(7, acks.OnConsumed(7, moreQueued: false));
    }
}
