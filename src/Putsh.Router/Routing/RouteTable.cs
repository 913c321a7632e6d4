using System.Collections.Concurrent;
using Putsh.Protocol;

namespace Putsh.Router.Routing;

/// <summary>All routes the router knows, and how a request path picks one (§3.1).</summary>
internal sealed class RouteTable(RouterOptions options, TimeProvider time)
{
    private readonly ConcurrentDictionary<string, V1RoutePool> _v1 = new(StringComparer.Ordinal);

    public TimeProvider Time => time;

    public V1RoutePool GetOrAddV1(string route) => _v1.GetOrAdd(route, static (r, t) => new V1RoutePool(r, t), time);

    public IEnumerable<V1RoutePool> V1Pools => _v1.Values;

    /// <summary>
    /// The pool serving <paramref name="decodedPath"/>: its route if known, else the catch-all if known, else null (404).
    /// A route that has had no socket for longer than <see cref="RouterOptions.RoutesKeepTime"/> is forgotten here.
    /// </summary>
    public V1RoutePool? Resolve(string decodedPath)
    {
        if (options.LongestPrefixRoutes)
        {
            // Try the whole path, then cut one segment at a time from the end (§3.1, LongestFirstRouteResolver).
            var candidate = decodedPath.TrimStart('/');
            while (candidate.Length > 0)
            {
                var trimmed = candidate.TrimEnd('/');
                if (trimmed.Length > 0 && TryGetLive(trimmed) is { } pool)
                {
                    return pool;
                }

                var slash = trimmed.LastIndexOf('/');
                if (slash < 0)
                {
                    break;
                }

                candidate = trimmed[..slash];
            }
        }
        else
        {
            var first = FirstSegment(decodedPath);
            if (first.Length > 0 && TryGetLive(first) is { } pool)
            {
                return pool;
            }
        }

        return TryGetLive(CrankerProtocol.CatchAll);
    }

    private V1RoutePool? TryGetLive(string route)
    {
        if (!_v1.TryGetValue(route, out var pool))
        {
            return null;
        }

        // The key itself stays (keys only come from registrations, so they are bounded); a forgotten route
        // simply stops resolving until a socket registers for it again.
        return pool.IsLive(options.RoutesKeepTime) ? pool : null;
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
