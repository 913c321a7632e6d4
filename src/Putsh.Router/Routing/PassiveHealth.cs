using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace Putsh.Router.Routing;

/// <summary>
/// Passive health of connector instances (<see cref="RouterOptions.PassiveHealthFailures"/>): an instance whose
/// requests fail that many times in a row (a 502, 503 or 504 answer, a reset, a lost socket, a timeout) is taken out
/// of rotation for <see cref="RouterOptions.PassiveHealthReactivation"/>; then it is on probation: the next request it
/// gets decides, a success putting it back for good, a failure taking it out again for twice as long (up to 16 times).
/// While every instance of a route is out, they are used anyway: a chance of an answer beats a certain 503.
/// </summary>
internal sealed class PassiveHealth(RouterOptions options, TimeProvider time, ILogger logger)
{
    private readonly ConcurrentDictionary<string, State> _instances = new(StringComparer.Ordinal);

    // Instances with a state kept (failing, out or on probation): none, in the steady state, so a choice asks nothing.
    private int _tracked;

    /// <summary>True while <paramref name="instanceId"/> is out of rotation.</summary>
    public bool IsOut(string instanceId)
    {
        if (Volatile.Read(ref _tracked) == 0 || !_instances.TryGetValue(instanceId, out var state))
        {
            return false;
        }

        return Volatile.Read(ref state.OutUntil) > time.GetTimestamp();
    }

    /// <summary>Records how a request that <paramref name="instanceId"/> served ended.</summary>
    public void Record(string instanceId, bool failed)
    {
        var threshold = options.PassiveHealthFailures;
        if (threshold <= 0)
        {
            return;
        }

        if (!failed)
        {
            if (Volatile.Read(ref _tracked) > 0 && _instances.TryGetValue(instanceId, out var known))
            {
                lock (known)
                {
                    var now = time.GetTimestamp();
                    if (known.Strikes > 0 && now < known.OutUntil)
                    {
                        return; // a request that was already in flight when the instance went out
                    }

                    if (known.Strikes > 0)
                    {
                        RouterLog.InstanceBackInRotation(logger, instanceId);
                    }

                    Forget(instanceId, known);
                }
            }

            return;
        }

        var state = _instances.GetOrAdd(instanceId, static (_, self) =>
        {
            Interlocked.Increment(ref self._tracked);
            return new State();
        }, this);
        lock (state)
        {
            var now = time.GetTimestamp();
            if (state.Strikes > 0 && now < state.OutUntil)
            {
                return; // already out
            }

            state.Failures++;
            var probeFailed = state.Strikes > 0;
            if (!probeFailed && state.Failures < threshold)
            {
                return;
            }

            state.Strikes = Math.Min(state.Strikes + 1, 5);
            var period = options.PassiveHealthReactivation * (1 << (state.Strikes - 1));
            Volatile.Write(ref state.OutUntil, now + (long)(period.TotalSeconds * time.TimestampFrequency));
            RouterLog.InstanceOutOfRotation(logger, instanceId, state.Failures, period);
        }
    }

    private void Forget(string instanceId, State state)
    {
        if (_instances.TryRemove(new KeyValuePair<string, State>(instanceId, state)))
        {
            Interlocked.Decrement(ref _tracked);
        }
    }

    private sealed class State
    {
        public int Failures;
        public int Strikes;
        public long OutUntil;
    }
}
