using System.Collections.Frozen;

namespace Putsh.Router.Routing;

/// <summary>
/// Connector instances and routes an operator has taken out of rotation (<c>PUT /api/dark-mode/...</c> on the admin
/// listener, docs/state-api.md): a dark instance keeps its sockets and finishes what it carries but is sent no new
/// cranker_3.0 request or TCP connection (other instances of its route take them; with none, 503); a dark route
/// answers 503 and closes TCP connections at once.
/// Lasts until undone or the router restarts. Read on every request, so the sets are replaced whole, never changed.
/// </summary>
internal sealed class DarkMode
{
    private readonly Lock _lock = new();
    private FrozenSet<string> _instances = FrozenSet<string>.Empty;
    private FrozenSet<string> _routes = FrozenSet<string>.Empty;

    public IReadOnlyCollection<string> Instances => Volatile.Read(ref _instances);

    public IReadOnlyCollection<string> Routes => Volatile.Read(ref _routes);

    public bool IsDarkInstance(string instanceId)
    {
        var set = Volatile.Read(ref _instances);
        return set.Count > 0 && set.Contains(instanceId);
    }

    public bool IsDarkRoute(string route)
    {
        var set = Volatile.Read(ref _routes);
        return set.Count > 0 && set.Contains(route);
    }

    /// <summary>Turns dark mode on (<paramref name="dark"/>) or off for an instance; true when that changed anything.</summary>
    public bool SetInstance(string instanceId, bool dark) => Set(ref _instances, instanceId, dark);

    /// <summary>Turns dark mode on or off for a route; true when that changed anything.</summary>
    public bool SetRoute(string route, bool dark) => Set(ref _routes, route, dark);

    private bool Set(ref FrozenSet<string> field, string name, bool dark)
    {
        lock (_lock)
        {
            var current = field;
            if (current.Contains(name) == dark)
            {
                return false;
            }

            Volatile.Write(ref field, (dark ? current.Append(name) : current.Where(n => n != name)).ToFrozenSet(StringComparer.Ordinal));
            return true;
        }
    }
}
