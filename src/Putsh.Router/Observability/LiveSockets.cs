using System.Collections.Concurrent;
using Putsh.Router.Sockets;

namespace Putsh.Router.Observability;

/// <summary>
/// Every connector socket open on this router, whatever pool it is in (or none, while a cranker_1.0 socket carries a
/// request): what metrics and the state API read. A socket is added when its WebSocket is accepted and removed when
/// it ends.
/// </summary>
internal sealed class LiveSockets(TimeProvider time)
{
    private readonly ConcurrentDictionary<string, LiveSocket> _sockets = new(StringComparer.Ordinal);

    public int Count => _sockets.Count;

    public LiveSocket Add(RouterSocketV1 socket) => Add(new LiveSocket(socket.Id, socket.Connector, time.GetUtcNow(), v1: socket, v3: null));

    public LiveSocket Add(RouterSocketV3 socket) => Add(new LiveSocket(socket.Id, socket.Connector, time.GetUtcNow(), v1: null, v3: socket));

    public void Remove(LiveSocket socket) => _sockets.TryRemove(socket.Id, out _);

    /// <summary>The sockets at this moment, in no particular order.</summary>
    public ICollection<LiveSocket> Snapshot() => _sockets.Values;

    private LiveSocket Add(LiveSocket socket)
    {
        _sockets[socket.Id] = socket;
        return socket;
    }
}

/// <summary>One open connector socket, as observed from outside its protocol.</summary>
internal sealed class LiveSocket(string id, ConnectorInfo connector, DateTimeOffset connectedAt, RouterSocketV1? v1, RouterSocketV3? v3)
{
    public string Id { get; } = id;

    public ConnectorInfo Connector { get; } = connector;

    public DateTimeOffset ConnectedAt { get; } = connectedAt;

    /// <summary>Requests on the socket now: a cranker_1.0 socket carries at most one, a cranker_3.0 socket one per stream.</summary>
    public int InFlight => v3 is not null ? v3.InFlight : v1!.IsIdle ? 0 : 1;
}
