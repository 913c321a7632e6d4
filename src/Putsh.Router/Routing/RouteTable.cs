using System.Collections.Concurrent;
using Putsh.Protocol;
using Putsh.Router.Sockets;

namespace Putsh.Router.Routing;

/// <summary>Where a request goes: a cranker_3.0 socket, a cranker_1.0 pool to take a socket from, or nowhere (404).</summary>
internal readonly record struct RouteChoice(string Route, RouterSocketV3? V3, V1RoutePool? V1);

/// <summary>All routes the router knows, and how a request picks one (§3.1, §3.2).</summary>
internal sealed class RouteTable(RouterOptions options, TimeProvider time, Microsoft.Extensions.Logging.ILogger? logger = null)
{
    private readonly ConcurrentDictionary<string, V1RoutePool> _v1 = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<(string Domain, string Route), V3RoutePool> _v3 = new();
    private readonly ConcurrentDictionary<string, V3RoutePool> _tcp = new(StringComparer.Ordinal);

    /// <summary>The domain shown for the pools of TCP routes (the <c>tcp</c> extension), which no HTTP request resolves to.</summary>
    public const string TcpDomain = "tcp";

    public TimeProvider Time => time;

    /// <summary>Instances and routes out of rotation by an operator's word.</summary>
    public DarkMode Dark { get; } = new();

    /// <summary>Connector instances out of rotation because their requests fail (passive health).</summary>
    public PassiveHealth Health { get; } = new(options, time, logger ?? Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance);

    public V1RoutePool GetOrAddV1(string route) => _v1.GetOrAdd(route, static (r, t) => new V1RoutePool(r, t), time);

    public V3RoutePool GetOrAddV3(string domain, string route) => _v3.GetOrAdd((domain, route), static (k, table) => new V3RoutePool(k.Domain, k.Route, table.LeastRequests, table.Dark, table.Health, table.Time), this);

    public IEnumerable<V1RoutePool> V1Pools => _v1.Values;

    /// <summary>Every cranker_3.0 pool: HTTP routes per domain, then TCP routes.</summary>
    public IEnumerable<V3RoutePool> V3Pools => _v3.Values.Concat(_tcp.Values);

    /// <summary>The pool of the TCP route <paramref name="route"/> (docs/protocol.md §12.9), made on first use.</summary>
    public V3RoutePool GetOrAddTcp(string route) => _tcp.GetOrAdd(route, static (r, table) => new V3RoutePool(TcpDomain, r, table.LeastRequests, table.Dark, table.Health), this);

    private bool LeastRequests => options.LoadBalancing != "round-robin";

    /// <summary>The pool of the TCP route <paramref name="route"/>, if a connector ever served it.</summary>
    public V3RoutePool? Tcp(string route) => _tcp.TryGetValue(route, out var pool) ? pool : null;

    /// <summary>
    /// The cranker_1.0 pool serving <paramref name="decodedPath"/>: its route if known, else the catch-all if known,
    /// else null. A route that has had no socket for longer than <see cref="RouterOptions.RoutesKeepTime"/> is not known.
    /// </summary>
    public V1RoutePool? Resolve(string decodedPath) =>
        LiveV1(ResolveKey(decodedPath, r => LiveV1(r) is not null) ?? CrankerProtocol.CatchAll);

    /// <summary>
    /// mu's dispatch order (§3.2): sockets registered for the request's exact domain win; then a specific route
    /// beats the catch-all whatever the protocol; where both a cranker_3.0 socket and an idle cranker_1.0 socket can
    /// serve, one is picked at random (the migration period); a known cranker_1.0 route with no idle socket waits.
    /// </summary>
    /// <remarks>
    /// With <paramref name="webSocket"/>, only cranker_3.0 sockets that negotiated the websocket extension are chosen;
    /// a route that resolves but has none gives a choice with <see cref="RouteChoice.Route"/> set and no socket. With
    /// <c>avoidInstance</c> (a retry), that connector instance's cranker_3.0 sockets are taken only when no other can serve.
    /// </remarks>
    public RouteChoice Choose(string domain, string decodedPath, bool webSocket = false, string? avoidInstance = null)
    {
        var choice = ChooseAny(domain, decodedPath, webSocket, avoidInstance);
        // A dark route (DarkMode) keeps its sockets but takes no request: 503, as a route whose sockets are all busy.
        return choice.Route is { } route && Dark.IsDarkRoute(route) ? new RouteChoice(route, null, null) : choice;
    }

    private RouteChoice ChooseAny(string domain, string decodedPath, bool webSocket, string? avoidInstance)
    {
        if (domain != CrankerProtocol.CatchAll)
        {
            var key = ResolveKey(decodedPath, r => HasV3(domain, r)) ?? (HasV3(domain, CrankerProtocol.CatchAll) ? CrankerProtocol.CatchAll : null);
            if (key is not null && _v3.TryGetValue((domain, key), out var farm) && farm.Next(webSocket, avoidInstance) is { } socket)
            {
                return new RouteChoice(key, socket, null);
            }
        }

        var specific = ResolveKey(decodedPath, r => HasV3(CrankerProtocol.CatchAll, r) || LiveV1(r) is not null)
            ?? ResolveKey(decodedPath, r => RememberedV3(CrankerProtocol.CatchAll, r));
        foreach (var route in specific is null ? [CrankerProtocol.CatchAll] : new[] { specific, CrankerProtocol.CatchAll })
        {
            var v3 = _v3.TryGetValue((CrankerProtocol.CatchAll, route), out var pool) ? pool.Next(webSocket, avoidInstance) : null;
            var v1 = LiveV1(route);
            if (webSocket)
            {
                if (v3 is not null || v1 is not null || HasV3(CrankerProtocol.CatchAll, route))
                {
                    return new RouteChoice(route, v3, null);
                }

                continue;
            }

            if (v3 is not null && v1 is { IdleCount: > 0 })
            {
                return Random.Shared.Next(2) == 0 ? new RouteChoice(route, v3, null) : new RouteChoice(route, null, v1);
            }

            if (v3 is not null || v1 is not null)
            {
                return new RouteChoice(route, v3, v3 is null ? v1 : null);
            }

            if (RememberedV3(CrankerProtocol.CatchAll, route))
            {
                // Sockets, but none to take a request now (all draining, or their connectors silent): 503, not 404.
                return new RouteChoice(route, null, null);
            }
        }

        return default;
    }

    private bool RememberedV3(string domain, string route) => _v3.TryGetValue((domain, route), out var pool) && pool.IsRemembered(options.RoutesKeepTime);

    private bool HasV3(string domain, string route) => _v3.TryGetValue((domain, route), out var pool) && pool.Count > 0;

    // The key itself stays (keys only come from registrations, so they are bounded); a forgotten route simply
    // stops resolving until a socket registers for it again.
    private V1RoutePool? LiveV1(string route) =>
        _v1.TryGetValue(route, out var pool) && pool.IsLive(options.RoutesKeepTime) ? pool : null;

    /// <summary>The specific route for a path (§3.1), not the catch-all: first segment, or longest known prefix.</summary>
    private string? ResolveKey(string decodedPath, Func<string, bool> known)
    {
        if (options.LongestPrefixRoutes)
        {
            var candidate = decodedPath.TrimStart('/');
            while (candidate.Length > 0)
            {
                var trimmed = candidate.TrimEnd('/');
                if (trimmed.Length > 0 && known(trimmed))
                {
                    return trimmed;
                }

                var slash = trimmed.LastIndexOf('/');
                if (slash < 0)
                {
                    break;
                }

                candidate = trimmed[..slash];
            }

            return null;
        }

        var first = FirstSegment(decodedPath);
        return first.Length > 0 && known(first) ? first : null;
    }

    internal static string FirstSegment(string path)
    {
        var span = path.AsSpan();
        if (span.Length > 0 && span[0] == '/')
        {
            span = span[1..];
        }

        var slash = span.IndexOf('/');
        return (slash < 0 ? span : span[..slash]).ToString();
    }
}
