using Putsh.Router.Sockets;

namespace Putsh.Router.Routing;

/// <summary>The open cranker_3.0 sockets of one route in one domain (§3.4), taken in turn (round-robin).</summary>
internal sealed class V3RoutePool(string domain, string route)
{
    private readonly Lock _lock = new();
    private readonly List<RouterSocketV3> _sockets = [];
    private int _next;

    public string Domain { get; } = domain;

    public string Route { get; } = route;

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

    public void Add(RouterSocketV3 socket)
    {
        lock (_lock)
        {
            _sockets.Add(socket);
        }
    }

    public void Remove(RouterSocketV3 socket)
    {
        lock (_lock)
        {
            _sockets.Remove(socket);
        }
    }

    public List<RouterSocketV3> RemoveInstance(string connectorInstanceId)
    {
        lock (_lock)
        {
            var removed = _sockets.Where(s => s.Connector.InstanceId == connectorInstanceId).ToList();
            _sockets.RemoveAll(s => s.Connector.InstanceId == connectorInstanceId);
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
            RouterSocketV3? fallback = null;
            for (var tried = 0; tried < _sockets.Count; tried++)
            {
                var socket = _sockets[(int)((uint)_next++ % (uint)_sockets.Count)];
                if (socket.IsUsable && socket.HasRoom && socket.IsResponsive && (!webSocket || socket.SupportsWebSockets))
                {
                    if (avoidInstance is null || socket.Connector.InstanceId != avoidInstance)
                    {
                        return socket;
                    }

                    fallback ??= socket;
                }
            }

            return fallback;
        }
    }
}
