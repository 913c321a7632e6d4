using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
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

/// <summary>Serves the state API on an application branch (the executable's admin listener).</summary>
public static class PutshStateApiExtensions
{
    /// <summary>
    /// Answers <c>GET /api/routes</c> and <c>GET /api/connectors/{instanceId}</c> with the router's live state as JSON
    /// (docs/state-api.md); other requests go on down the pipeline. Expose it only where operators, not clients, reach.
    /// </summary>
    public static IApplicationBuilder UsePutshStateApi(this IApplicationBuilder app)
    {
        ArgumentNullException.ThrowIfNull(app);
        var api = app.ApplicationServices.GetRequiredService<StateApi>();
        return app.Use(async (context, next) =>
        {
            var path = context.Request.Path.Value ?? "";
            if (!path.StartsWith("/api/", StringComparison.Ordinal))
            {
                await next(context);
                return;
            }

            context.Response.Headers.CacheControl = "no-store";
            if (!HttpMethods.IsGet(context.Request.Method) && !HttpMethods.IsHead(context.Request.Method))
            {
                context.Response.StatusCode = StatusCodes.Status405MethodNotAllowed;
                context.Response.Headers.Allow = "GET, HEAD";
                await context.Response.WriteAsJsonAsync(new StateError("The state API is read-only: GET only."), StateJsonContext.Default.StateError);
                return;
            }

            if (path is "/api/routes" or "/api/routes/")
            {
                await context.Response.WriteAsJsonAsync(api.Routes(), StateJsonContext.Default.RoutesState);
                return;
            }

            const string connectors = "/api/connectors/";
            if (path.StartsWith(connectors, StringComparison.Ordinal) && path.Length > connectors.Length)
            {
                var id = Uri.UnescapeDataString(path[connectors.Length..].TrimEnd('/'));
                if (api.Connector(id) is { } found)
                {
                    await context.Response.WriteAsJsonAsync(found, StateJsonContext.Default.ConnectorState);
                }
                else
                {
                    context.Response.StatusCode = StatusCodes.Status404NotFound;
                    await context.Response.WriteAsJsonAsync(new StateError($"No connector instance '{id}' has a socket open on this router."), StateJsonContext.Default.StateError);
                }

                return;
            }

            context.Response.StatusCode = StatusCodes.Status404NotFound;
            await context.Response.WriteAsJsonAsync(new StateError("Not found: the state API serves /api/routes and /api/connectors/{instanceId}."), StateJsonContext.Default.StateError);
        });
    }
}
