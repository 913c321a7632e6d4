using Putsh.Router.Hosting;

namespace Putsh.Router.Observability;

/// <summary>
/// The router's live state as JSON (docs/state-api.md): <c>GET /api/routes</c> and <c>GET /api/connectors/{instanceId}</c>,
/// built from the open sockets and the per-route totals at the moment of the request.
/// </summary>
internal sealed class StateApi(LiveSockets sockets, RouteStats stats, TimeProvider time, RouterDrain? drain = null)
{
    public RoutesState Routes()
    {
        var all = sockets.Snapshot().ToList();
        var routes = all
            .GroupBy(s => s.Connector.Route, StringComparer.Ordinal)
            .OrderBy(g => g.Key, StringComparer.Ordinal)
            .Select(g =>
            {
                var list = g.ToList();
                var counters = stats.Find(g.Key);
                return new RouteState(
                    g.Key,
                    list.Count(s => s.InFlight == 0),
                    list.Count(s => s.InFlight > 0),
                    list.Sum(s => s.InFlight),
                    Totals(counters),
                    [.. list.GroupBy(s => s.Connector.InstanceId, StringComparer.Ordinal).OrderBy(i => i.Key, StringComparer.Ordinal).Select(i => Connector(i.ToList(), withSockets: false))]);
            })
            .ToList();
        return new RoutesState(1, time.GetUtcNow(), drain is { IsReady: false }, routes);
    }

    /// <summary>The instance's sockets on every route it serves; null when it has none open.</summary>
    public ConnectorState? Connector(string instanceId)
    {
        var list = sockets.Snapshot().Where(s => s.Connector.InstanceId == instanceId).ToList();
        return list.Count == 0 ? null : Connector(list, withSockets: true);
    }

    private static ConnectorState Connector(List<LiveSocket> list, bool withSockets)
    {
        var first = list.OrderBy(s => s.ConnectedAt).First();
        return new ConnectorState(
            first.Connector.InstanceId,
            first.Connector.ComponentName,
            first.Connector.RemoteAddress,
            first.Connector.Protocol,
            first.Connector.Domain,
            first.Connector.Route,
            list.Count(s => s.Usable && s.InFlight == 0),
            list.Count(s => s.InFlight > 0),
            list.Count(s => !s.Usable && s.InFlight == 0),
            list.Sum(s => s.InFlight),
            first.ConnectedAt,
            first.Extensions,
            withSockets ? [.. list.OrderBy(s => s.ConnectedAt).Select(Socket)] : null);
    }

    private static SocketState Socket(LiveSocket s) =>
        new(s.Id, s.Connector.Route, s.Connector.Protocol, s.InFlight > 0 ? "busy" : s.Usable ? "idle" : "unusable", s.InFlight, s.ConnectedAt, s.Silence?.TotalSeconds, s.Extensions);

    private static RouteTotals Totals(RouteCounters? c) => c is null
        ? new RouteTotals(0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        : new RouteTotals(c.Requests, c.Status1xx, c.Status2xx, c.Status3xx, c.Status4xx, c.Status5xx, c.RouterErrors, c.DurationSecondsSum, c.BytesReceived, c.BytesSent);
}
