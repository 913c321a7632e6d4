using Putsh.Router.Sockets;

namespace Putsh.Router.Routing;

/// <summary>
/// The open cranker_3.0 sockets of one route in one domain (§3.4). A request takes the least busy one (the connector
/// instance with the fewest requests in flight here, then its socket with the fewest), ties going in turn, or, with
/// <see cref="LeastRequests"/> off, simply the next in turn (round-robin, as Cranker routers do).
/// </summary>
internal sealed class V3RoutePool(string domain, string route, bool leastRequests = true, DarkMode? dark = null, PassiveHealth? health = null, TimeProvider? time = null)
{
    // When the pool last lost its last socket (a timestamp of time), or 0 while it has sockets or never had any.
    private long _emptySince;

    // Above this many sockets the loads of one choice are counted in rented arrays rather than on the stack.
    private const int StackSockets = 256;

    private readonly Lock _lock = new();
    private readonly List<RouterSocketV3> _sockets = [];
    private int _next;

    public string Domain { get; } = domain;

    public string Route { get; } = route;

    /// <summary>Least outstanding requests (the default); false is round-robin.</summary>
    public bool LeastRequests { get; } = leastRequests;

    public int Count
    {
        get
        {
            lock (_lock)
            {
                return _sockets.Count;
            }
        }
    }

    /// <summary>The sockets at this moment, in no particular order.</summary>
    public RouterSocketV3[] Snapshot()
    {
        lock (_lock)
        {
            return [.. _sockets];
        }
    }

    /// <summary>Adds a socket next to the other sockets of its connector instance, so that each instance's sockets are one run.</summary>
    public void Add(RouterSocketV3 socket)
    {
        lock (_lock)
        {
            var last = _sockets.FindLastIndex(s => s.Connector.InstanceId == socket.Connector.InstanceId);
            _sockets.Insert(last < 0 ? _sockets.Count : last + 1, socket);
        }
    }

    public void Remove(RouterSocketV3 socket)
    {
        lock (_lock)
        {
            MarkIfEmpty(_sockets.Remove(socket) ? 1 : 0);
        }
    }

    /// <summary>Under the lock: notes the moment the pool lost its last socket, when <paramref name="removed"/> sockets just went.</summary>
    private void MarkIfEmpty(int removed)
    {
        if (removed > 0 && _sockets.Count == 0 && time is not null)
        {
            _emptySince = time.GetTimestamp();
        }
    }

    /// <summary>
    /// True while the pool has sockets, and for <paramref name="keepTime"/> after it lost the last one
    /// (<see cref="RouterOptions.RoutesKeepTime"/>): its route is then answered 503, not 404, as a route whose
    /// connectors are restarting or went dark is not a route that never was.
    /// </summary>
    public bool IsRemembered(TimeSpan keepTime)
    {
        lock (_lock)
        {
            return _sockets.Count > 0 || (_emptySince != 0 && time is not null && time.GetElapsedTime(_emptySince) < keepTime);
        }
    }

    public List<RouterSocketV3> RemoveInstance(string connectorInstanceId)
    {
        lock (_lock)
        {
            var removed = _sockets.Where(s => s.Connector.InstanceId == connectorInstanceId).ToList();
            _sockets.RemoveAll(s => s.Connector.InstanceId == connectorInstanceId);
            MarkIfEmpty(removed.Count);
            return removed;
        }
    }

    public List<RouterSocketV3> RemoveAll()
    {
        lock (_lock)
        {
            var all = _sockets.ToList();
            _sockets.Clear();
            return all;
        }
    }

    /// <summary>
    /// The next usable socket in turn, passing over those whose connector has gone quiet (its pongs are overdue), or
    /// null. With <paramref name="avoidInstance"/>, a socket of another connector instance if there is one: a request
    /// sent again because its socket was lost goes where the same failure is least likely.
    /// </summary>
    public RouterSocketV3? Next(bool webSocket = false, string? avoidInstance = null)
    {
        lock (_lock)
        {
            if (LeastRequests && _sockets.Count > 1)
            {
                return LeastBusy(webSocket, avoidInstance);
            }

            RouterSocketV3? fallback = null;
            for (var tried = 0; tried < _sockets.Count; tried++)
            {
                var socket = _sockets[(int)((uint)_next++ % (uint)_sockets.Count)];
                if (Usable(socket, webSocket) && !IsDark(socket))
                {
                    if ((avoidInstance is null || socket.Connector.InstanceId != avoidInstance) && !IsOut(socket))
                    {
                        return socket;
                    }

                    fallback ??= socket;
                }
            }

            return fallback;
        }
    }

    private static bool Usable(RouterSocketV3 socket, bool webSocket) =>
        socket.IsUsable && socket.HasRoom && socket.IsResponsive && (!webSocket || socket.SupportsWebSockets);

    /// <summary>Out of rotation by an operator's word (<see cref="DarkMode"/>).</summary>
    private bool IsDark(RouterSocketV3 socket) => dark is not null && dark.IsDarkInstance(socket.Connector.InstanceId);

    /// <summary>Out of rotation for failing (<see cref="PassiveHealth"/>): taken only when nothing better is usable.</summary>
    private bool IsOut(RouterSocketV3 socket) => health is not null && health.IsOut(socket.Connector.InstanceId);

    /// <summary>
    /// The usable socket of the connector instance with the fewest requests in flight on this route (summed over its
    /// sockets), and of that instance's sockets the one with the fewest; among equals the first from a starting point
    /// that moves on by one each time, so that an idle pool is used in turn. Two passes over the sockets, no allocation.
    /// </summary>
    private RouterSocketV3? LeastBusy(bool webSocket, string? avoidInstance)
    {
        var count = _sockets.Count;
        int[]? rented = null;
        var scratch = count <= StackSockets ? stackalloc int[2 * StackSockets] : (rented = System.Buffers.ArrayPool<int>.Shared.Rent(2 * count));
        var load = scratch[..count];
        var instanceLoad = scratch.Slice(count, count);
        try
        {
            // Each instance's sockets are one run (Add): its total goes on every socket of the run.
            for (var runStart = 0; runStart < count;)
            {
                var instance = _sockets[runStart].Connector.InstanceId;
                var runEnd = runStart;
                var total = 0;
                while (runEnd < count && _sockets[runEnd].Connector.InstanceId == instance)
                {
                    load[runEnd] = _sockets[runEnd].InFlight;
                    total += load[runEnd];
                    runEnd++;
                }

                instanceLoad[runStart..runEnd].Fill(total);
                runStart = runEnd;
            }

            var start = (int)((uint)_next++ % (uint)count);
            var best = -1;
            var bestAvoided = false;
            for (var j = 0; j < count; j++)
            {
                var i = start + j < count ? start + j : start + j - count;
                var socket = _sockets[i];
                if (!Usable(socket, webSocket) || IsDark(socket))
                {
                    continue;
                }

                // Another instance than the one to avoid, and one in rotation, first; then the idler instance; then the idler socket.
                var avoided = (avoidInstance is not null && socket.Connector.InstanceId == avoidInstance) || IsOut(socket);
                if (best < 0
                    || (avoided != bestAvoided ? !avoided
                        : instanceLoad[i] != instanceLoad[best] ? instanceLoad[i] < instanceLoad[best] : load[i] < load[best]))
                {
                    best = i;
                    bestAvoided = avoided;
                }
            }

            return best < 0 ? null : _sockets[best];
        }
        finally
        {
            if (rented is not null)
            {
                System.Buffers.ArrayPool<int>.Shared.Return(rented);
            }
        }
    }
}
