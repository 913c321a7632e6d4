using Putsh.Connector.Pool;

namespace Putsh.Connector.Tests.Pool;

/// <summary>Exponential backoff with jitter (§1.8, improved): bounded, growing, capped, and spread out.</summary>
public sealed class ReconnectBackoffTests
{
    private static readonly TimeSpan Initial = TimeSpan.FromMilliseconds(500);
    private static readonly TimeSpan Max = TimeSpan.FromSeconds(10);

    [Theory]
    [InlineData(1, 250, 500)]
    [InlineData(2, 500, 1000)]
    [InlineData(3, 1000, 2000)]
    [InlineData(5, 4000, 8000)]
    [InlineData(6, 5000, 10000)]
    [InlineData(50, 5000, 10000)]
    public void Each_delay_lies_between_half_and_all_of_the_capped_exponential(int failures, double minMs, double maxMs)
    {
        var backoff = new ReconnectBackoff(Initial, Max, new Random(failures));
        for (var i = 0; i < 200; i++)
        {
            var delay = backoff.Delay(failures).TotalMilliseconds;
            Assert.InRange(delay, minMs, maxMs);
        }
    }

    [Fact]
    public void A_thousand_connectors_do_not_retry_in_lockstep()
    {
        var delays = Enumerable.Range(0, 1000)
            .Select(seed => new ReconnectBackoff(Initial, Max, new Random(seed)).Delay(4).TotalMilliseconds)
            .ToList();

        // Spread over the jitter window (2 s to 4 s at the fourth failure) rather than bunched at one instant.
        Assert.InRange(delays.Min(), 2000, 2100);
        Assert.InRange(delays.Max(), 3900, 4000);
        Assert.True(delays.Distinct().Count() > 900);
        var perQuarterSecond = delays.GroupBy(d => (int)(d / 250)).Select(g => g.Count()).ToList();
        Assert.True(perQuarterSecond.Max() < 200, "no quarter-second holds more than a fifth of the retries");
    }
}
