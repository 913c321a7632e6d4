using System.Collections.Concurrent;

namespace Putsh.Router.Registration;

/// <summary>
/// Bounds what connectors may hold: registration attempts per source address per second (a token bucket), and open
/// sockets per source address, per connector instance and per route. A refusal names the limit it hit.
/// </summary>
internal sealed class RegistrationLimits(RouterOptions options, TimeProvider time)
{
    private const int MaxTrackedSources = 4096;

    private readonly ConcurrentDictionary<string, Bucket> _buckets = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, int> _perSource = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, int> _perRoute = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<(string Route, string Instance), int> _perConnector = new();

    /// <summary>Takes one registration attempt from the source's budget; false when it has none left this second.</summary>
    public bool TryStartAttempt(string source)
    {
        if (options.RegistrationsPerSecondPerSource is not { } rate)
        {
            return true;
        }

        if (_buckets.Count >= MaxTrackedSources && !_buckets.ContainsKey(source))
        {
            // A flood from many addresses: forget them all rather than grow. Each starts again with a full budget.
            _buckets.Clear();
        }

        var bucket = _buckets.GetOrAdd(source, static (_, s) => new Bucket(s.Burst, s.Now), (Burst: rate * 4.0, Now: time.GetTimestamp()));
        return bucket.TryTake(rate, rate * 4.0, time);
    }

    /// <summary>
    /// Counts a socket in; the reason for a refusal when one of the limits is already reached. <paramref name="first"/>
    /// says whether it is the connector instance's first socket for the route.
    /// </summary>
    public string? TryAdmit(string source, string route, string instance, out bool first)
    {
        first = false;
        if (Take(_perSource, source, options.MaxSocketsPerSource, out _) is false)
        {
            return $"this address already holds {options.MaxSocketsPerSource} connector sockets (MaxSocketsPerSource)";
        }

        if (Take(_perRoute, route, options.MaxSocketsPerRoute, out _) is false)
        {
            Give(_perSource, source);
            return $"route '{route}' already has {options.MaxSocketsPerRoute} sockets (MaxSocketsPerRoute)";
        }

        if (Take(_perConnector, (route, instance), options.MaxSocketsPerConnector, out first) is false)
        {
            Give(_perSource, source);
            Give(_perRoute, route);
            return $"connector instance '{instance}' already has {options.MaxSocketsPerConnector} sockets for route '{route}' (MaxSocketsPerConnector)";
        }

        return null;
    }

    /// <summary>Counts a socket admitted by <see cref="TryAdmit"/> out again.</summary>
    public void Release(string source, string route, string instance)
    {
        Give(_perSource, source);
        Give(_perRoute, route);
        Give(_perConnector, (route, instance));
    }

    private static bool Take<TKey>(ConcurrentDictionary<TKey, int> counts, TKey key, int? max, out bool first)
        where TKey : notnull
    {
        var n = counts.AddOrUpdate(key, 1, static (_, n) => n + 1);
        first = n == 1;
        if (max is { } limit && n > limit)
        {
            Give(counts, key);
            return false;
        }

        return true;
    }

    private static void Give<TKey>(ConcurrentDictionary<TKey, int> counts, TKey key)
        where TKey : notnull
    {
        if (counts.AddOrUpdate(key, 0, static (_, n) => n - 1) <= 0)
        {
            counts.TryRemove(new KeyValuePair<TKey, int>(key, 0));
        }
    }

    private sealed class Bucket(double tokens, long updated)
    {
        private readonly Lock _lock = new();
        private double _tokens = tokens;
        private long _updated = updated;

        public bool TryTake(double rate, double burst, TimeProvider time)
        {
            lock (_lock)
            {
                var now = time.GetTimestamp();
                _tokens = Math.Min(burst, _tokens + (time.GetElapsedTime(_updated, now).TotalSeconds * rate));
                _updated = now;
                if (_tokens < 1)
                {
                    return false;
                }

                _tokens -= 1;
                return true;
            }
        }
    }
}
