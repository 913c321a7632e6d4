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

    /// <summary>Time since the connector last sent anything on it, pongs included; null where that is not tracked.</summary>
    public TimeSpan? Silence => (v3 is not null ? v3.Activity : v1!.Activity)?.Silence;

    /// <summary>Whether requests are sent to it: open, not draining, and its connector not silent past the pong timeout.</summary>
    public bool Usable => v3 is not null ? v3.IsUsable && v3.IsResponsive : v1!.IsResponsive;

    /// <summary>The putsh extensions agreed on the socket, as named on the wire.</summary>
    public IReadOnlyList<string> Extensions
    {
        get
        {
            if (v3 is null)
            {
                return [];
            }

            var names = new List<string>(3);
            if (v3.SupportsWebSockets)
            {
                names.Add(Protocol.V3.WsFrame.WebSocketExtension);
            }

            if (v3.FlowWindow > 0)
            {
                names.Add(Protocol.V3.FlowWindowExtension.Token(v3.FlowWindow));
                if (v3.HeadAcks == Protocol.V3.HeadAcks.None)
                {
                    names.Add(Protocol.V3.FlowWindowExtension.NoHeadAck);
                }
                else if (v3.HeadAcks == Protocol.V3.HeadAcks.Request)
                {
                    names.Add(Protocol.V3.FlowWindowExtension.NoResponseHeadAck);
                }
            }

            if (v3.Trailers)
            {
                names.Add(Protocol.V3.TrailersExtension.Name);
            }

            if (v3.IsTcp)
            {
                names.Add(Protocol.V3.TcpExtension.Name);
            }

            return names;
        }
    }
}
