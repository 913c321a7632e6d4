using System.Net.WebSockets;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Putsh.Protocol;
using Putsh.Protocol.V3;
using Putsh.Router.Hosting;
using Putsh.Router.Observability;
using Putsh.Router.Proxy;
using Putsh.Router.Routing;
using Putsh.Router.Sockets;

namespace Putsh.Router.Registration;

/// <summary>
/// The registration listener's endpoints (§1.1): <c>/register</c> opens a connector socket after protocol
/// negotiation (§1.3); <c>/deregister</c> takes a connector instance out of rotation (§1.9).
/// </summary>
internal sealed class RegistrationHandler
{
    private readonly RouteTable _table;
    private readonly RouterOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly RegistrationGuard _guard;
    private readonly RegistrationLimits _limits;
    private readonly RouterMetrics _metrics;
    private readonly LiveSockets _live;

    public RegistrationHandler(RouteTable table, IOptions<RouterOptions> options, TimeProvider time, RegistrationGuard guard, ILogger<RegistrationHandler> logger, RouterMetrics metrics, LiveSockets live)
    {
        _metrics = metrics;
        _live = live;
        _guard = guard;
        _table = table;
        _options = options.Value;
        _time = time;
        _logger = logger;
        _limits = new RegistrationLimits(_options, time);
    }

    public static bool IsRegistrationPath(PathString path) =>
        path.Value is "/register" or "/register/" or "/deregister" or "/deregister/";

    public async Task HandleAsync(HttpContext context)
    {
        if (HttpMethods.IsTrace(context.Request.Method))
        {
            await ErrorPages.MethodNotAllowed(context);
            return;
        }

        var remote = RequestHeadBuilder.FormatAddress(context.Connection.RemoteIpAddress) ?? "unknown";

        // Credentials first: an unauthenticated request learns nothing else, and never reaches the route table.
        var verdict = _guard.Check(context);
        if (!verdict.Accepted)
        {
            await RefuseAsync(context, remote, verdict);
            return;
        }

        if (!_limits.TryStartAttempt(remote))
        {
            context.Response.Headers.RetryAfter = "1";
            await RefuseAsync(context, remote, StatusCodes.Status429TooManyRequests, $"more than {_options.RegistrationsPerSecondPerSource} registration attempts a second from this address (RegistrationsPerSecondPerSource)");
            return;
        }

        if (!WsAccept.IsWebSocketRequest(context))
        {
            await RefuseAsync(context, remote, StatusCodes.Status400BadRequest, "Cranker registration needs a WebSocket upgrade (GET with Upgrade: websocket).");
            return;
        }

        var request = context.Request;
        var route = NonEmpty(request.Headers[CrankerProtocol.RouteHeaderName].ToString()) ?? CrankerProtocol.CatchAll;
        var domain = NonEmpty(request.Headers[CrankerProtocol.DomainHeaderName].ToString()) ?? CrankerProtocol.CatchAll;
        var instanceId = NonEmpty(request.Query[CrankerProtocol.ConnectorInstanceIdQuery].ToString());
        var componentName = NonEmpty(request.Query[CrankerProtocol.ComponentNameQuery].ToString());

        if (!CrankerProtocol.IsValidRoute(route, _options.LongestPrefixRoutes))
        {
            await RefuseAsync(context, remote, StatusCodes.Status400BadRequest,
                $"Route names are 1 to {CrankerProtocol.MaxRouteLength} characters a first path segment can match (letters, digits, {CrankerProtocol.RouteSymbols}){(_options.LongestPrefixRoutes ? ", joined by /" : "")}, or * for the catch-all.");
            return;
        }

        if (!verdict.Permits(route))
        {
            await RefuseAsync(context, remote, RegistrationGuard.RouteNotPermitted(route));
            return;
        }

        if (request.Path.Value!.StartsWith("/deregister", StringComparison.Ordinal))
        {
            await DeregisterAsync(context, route, instanceId, remote, verdict);
            return;
        }

        var legacy = request.Headers[CrankerProtocol.LegacyHeaderName];
        var negotiation = CrankerProtocol.Negotiate(
            WsAccept.RequestedProtocols(request),
            legacy.Count == 0 ? null : legacy.ToString(),
            _options.Protocols.Select(CrankerProtocol.Normalize).OfType<string>().ToArray());
        if (!negotiation.Accepted)
        {
            await RefuseAsync(context, remote, StatusCodes.Status400BadRequest, negotiation.Error!);
            return;
        }

        // putsh extensions: only over cranker_3.0, only those the connector asked for.
        var offered = request.Headers[WsFrame.ExtensionsHeaderName];
        var webSockets = negotiation.Version == CrankerProtocol.V3 && _options.WebSockets
            && WsFrame.Names(offered, WsFrame.WebSocketExtension);
        var flowWindow = negotiation.Version == CrankerProtocol.V3
            ? FlowWindowExtension.Agree(FlowWindowExtension.Parse(offered), _options.MaxFlowWindow)
            : 0;
        var headAcks = FlowWindowExtension.ParseHeadAcks(offered, flowWindow);
        if (WsFrame.ExtensionsValue(webSockets, flowWindow, headAcks) is { } answer)
        {
            context.Response.Headers[WsFrame.ExtensionsHeaderName] = answer;
        }

        if (negotiation.SendLegacyHeader)
        {
            context.Response.Headers[CrankerProtocol.LegacyHeaderName] = CrankerProtocol.LegacyHeaderValue;
        }

        var admitted = instanceId ?? "unknown-" + remote;
        if (_limits.TryAdmit(remote, route, admitted, out var first) is { } full)
        {
            context.Response.Headers.RetryAfter = "10";
            await RefuseAsync(context, remote, StatusCodes.Status429TooManyRequests, full);
            return;
        }

        try
        {
            await AcceptAsync(context, negotiation, route, domain, admitted, componentName, remote, webSockets, flowWindow, headAcks, first);
        }
        finally
        {
            _limits.Release(remote, route, admitted);
        }
    }

    private async Task AcceptAsync(HttpContext context, NegotiationResult negotiation, string route, string domain, string instanceId, string? componentName, string remote, bool webSockets, int flowWindow, HeadAcks headAcks, bool firstSocket)
    {
        // On a listener shared with clients, this connection is a connector's from now on, not a client's to wait for.
        context.Features.Get<TrackedClientConnection>()?.Release();
        context.Features.Get<PendingRegistration>()?.Complete();
        var activity = new Putsh.Protocol.WebSockets.ReadActivity(_time);
        // A ping not answered within the idle timeout means the connector is dead (§1.6).
        await using var socket = await WsAccept.AcceptAsync(
            context,
            negotiation.SubProtocol,
            _options.PingInterval,
            _options.PingInterval == TimeSpan.Zero ? Timeout.InfiniteTimeSpan : _options.IdleTimeout,
            _time,
            activity);
        var info = new ConnectorInfo(route, negotiation.Version == CrankerProtocol.V3 ? domain : CrankerProtocol.CatchAll, instanceId, componentName, remote, negotiation.Version!);

        if (firstSocket)
        {
            RouterLog.ConnectorRegistered(_logger, instanceId, componentName, remote, route, negotiation.Version!);
        }

        _metrics.Registration("accepted", protocol: negotiation.Version);

        // Not the host's stopping token: on shutdown the sockets stay routable until the drain is over, then
        // RouterDrain closes them with 1001; an aborted connection ends this too.
        if (negotiation.Version == CrankerProtocol.V3)
        {
            // v3 sockets live in per-domain pools (§3.4); v1 sockets ignore Domain (§1.5).
            var pool = _table.GetOrAddV3(info.Domain, route);
            var settings = new V3SessionSettings
            {
                FlowWindow = flowWindow > 0 ? flowWindow : V3Frame.HighWatermark,
                HeadAcks = headAcks,
                MaxStreams = _options.MaxStreamsPerSocket,
                MaxMessage = _options.MaxConnectorMessageSize,
                MaxStrays = _options.MaxStrayMessages,
            };
            using var routerSocket = new RouterSocketV3(socket, info, _time, _logger, settings, webSockets) { Activity = activity, PongTimeout = _options.EffectivePongTimeout };
            RouterLog.SocketRegistered(_logger, routerSocket.Id, instanceId, route);
            var run = routerSocket.RunAsync(context.RequestAborted);
            var live = _live.Add(routerSocket);
            pool.Add(routerSocket);
            try
            {
                await run;
            }
            finally
            {
                pool.Remove(routerSocket);
                _live.Remove(live);
            }
        }
        else
        {
            var pool = _table.GetOrAddV1(route);
            using var routerSocket = new RouterSocketV1(socket, info, pool, _options, _time, _logger) { Activity = activity };
            RouterLog.SocketRegistered(_logger, routerSocket.Id, instanceId, route);
            var run = routerSocket.RunAsync(context.RequestAborted);
            var live = _live.Add(routerSocket);
            try
            {
                pool.Offer(routerSocket);
                await run;
            }
            finally
            {
                _live.Remove(live);
            }
        }
    }

    private async Task DeregisterAsync(HttpContext context, string route, string? instanceId, string remote, RegistrationVerdict verdict)
    {
        if (instanceId is null)
        {
            RouterLog.DeregistrationWithoutId(_logger, remote);
            _metrics.Deregistration("no_instance_id");
        }
        else
        {
            var closed = 0;
            // Only sockets on routes these credentials may register: a token bound to one route cannot take
            // another route's connector out of rotation, even knowing its instance id.
            foreach (var pool in _table.V1Pools.Where(p => verdict.Permits(p.Route)))
            {
                // mu looks only in the pools of the Route header; instance ids are unique, so looking everywhere
                // removes the same sockets and also copes with a connector that sends a different Route here.
                foreach (var socket in pool.RemoveInstance(instanceId))
                {
                    closed++;
                    _ = socket.CloseAsync(WebSocketCloseStatus.EndpointUnavailable, "Going away");
                }
            }

            foreach (var pool in _table.V3Pools.Where(p => verdict.Permits(p.Route)))
            {
                foreach (var socket in pool.RemoveInstance(instanceId))
                {
                    // Out of rotation now; closed with 1001 when idle, else the connector closes it when done (§1.9).
                    closed++;
                    socket.Drain();
                }
            }

            RouterLog.ConnectorDeregistered(_logger, instanceId, route, closed);
            _metrics.Deregistration("accepted");
        }

        await using var ws = await WsAccept.AcceptAsync(context, null, TimeSpan.Zero, Timeout.InfiniteTimeSpan, _time, null);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(5), _time);
        try
        {
            await ws.CloseAsync(WebSocketCloseStatus.NormalClosure, "Deregister complete", cts.Token);
        }
        catch (Exception)
        {
            ws.Abort();
        }
    }

    private static string? NonEmpty(string? value) => string.IsNullOrWhiteSpace(value) ? null : value.Trim();

    private Task RefuseAsync(HttpContext context, string remote, int status, string reason) =>
        RefuseAsync(context, remote, new RegistrationVerdict(status, reason, null, null));

    private Task RefuseAsync(HttpContext context, string remote, RegistrationVerdict verdict)
    {
        _guard.LogRefusal(remote, verdict.Status, verdict.Reason!);
        _metrics.Registration("refused", RouterMetrics.RefusalReason(verdict.Status));
        if (verdict.Challenge is { } challenge)
        {
            context.Response.Headers.WWWAuthenticate = challenge;
        }

        context.Response.Headers.CacheControl = "no-store";
        return WritePlainAsync(context, verdict.Status, verdict.Reason!);
    }

    private static Task WritePlainAsync(HttpContext context, int status, string message)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = "text/plain; charset=utf-8";
        return context.Response.WriteAsync(message + "\n");
    }
}
