namespace Putsh.Connector.Pool;

/// <summary>
/// Exponential backoff with "equal jitter": the n-th consecutive failure waits between half and all of
/// min(max, initial · 2ⁿ⁻¹). The random half keeps a thousand connectors from redialling a restarted router in
/// lockstep; the fixed half keeps the delay from collapsing to zero.
/// </summary>
internal sealed class ReconnectBackoff(TimeSpan initial, TimeSpan max, Random? random = null)
{
    private readonly Random _random = random ?? Random.Shared;

    public TimeSpan Delay(int failures)
    {
        var exponent = Math.Clamp(failures - 1, 0, 30);
        var ceiling = Math.Min(max.TotalMilliseconds, initial.TotalMilliseconds * Math.Pow(2, exponent));
        var half = ceiling / 2;
        return TimeSpan.FromMilliseconds(half + (_random.NextDouble() * half));
    }
}
