using System.Net.WebSockets;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Putsh.Protocol;
using Putsh.Protocol.V3;
using Putsh.Protocol.WebSockets;
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

    public Task HandleAsync(HttpContext context) => HandleAsync(context, deregister: null);

    /// <summary>Answers a registration (or, with <paramref name="deregister"/>, a deregistration) on any path; null: as the path says.</summary>
    public async Task HandleAsync(HttpContext context, bool? deregister)
    {
        if (HttpMethods.IsTrace(context.Request.Method))
        {
            await ErrorPages.MethodNotAllowed(context);
            return;
        }

        var decision = Decide(RegistrationRequest.From(context, deregister));
        if (!decision.Accepted)
        {
            await WriteRefusalAsync(context, decision);
            return;
        }

        if (decision.IsDeregister)
        {
            await DeregisterAsync(context, decision.Route, decision.InstanceId, decision.Remote, decision.Verdict);
            return;
        }

        var response = context.Response.Headers;
        if (decision.ExtensionsAnswer is { } answer)
        {
            response[WsFrame.ExtensionsHeaderName] = answer;
        }

        if (decision.Negotiation.SendLegacyHeader)
        {
            response[CrankerProtocol.LegacyHeaderName] = CrankerProtocol.LegacyHeaderValue;
        }

        // On a listener shared with clients, this connection is a connector's from now on, not a client's to wait for.
        context.Features.Get<TrackedClientConnection>()?.Release();
        context.Features.Get<PendingRegistration>()?.Complete();
        await RunAsync(decision, (subProtocol, options) => WsAccept.AcceptAsync(context, subProtocol, options), context.RequestAborted);
    }

    /// <summary>
    /// Decides a registration or deregistration request, in the order the checks are documented: credentials first
    /// (an unauthenticated request learns nothing else and never reaches the route table), then the per-source
    /// attempt rate, the upgrade, the route, negotiation, and the socket limits. A refusal is logged and counted here;
    /// an accepted registration holds its admission until <see cref="RunAsync"/> ends.
    /// </summary>
    internal RegistrationDecision Decide(RegistrationRequest request)
    {
        var remote = RequestHeadBuilder.FormatAddress(request.RemoteAddress) ?? "unknown";
        var verdict = _guard.Check(request.RemoteAddress, request.ClientCertificate, request.Headers.Authorization.ToString());
        if (!verdict.Accepted)
        {
            return Refuse(remote, verdict, retryAfter: null);
        }

        if (!_limits.TryStartAttempt(remote))
        {
            return Refuse(remote, StatusCodes.Status429TooManyRequests, $"more than {_options.RegistrationsPerSecondPerSource} registration attempts a second from this address (RegistrationsPerSecondPerSource)", retryAfter: "1");
        }

        if (!request.IsWebSocket)
        {
            return Refuse(remote, StatusCodes.Status400BadRequest, "Cranker registration needs a WebSocket upgrade (GET with Upgrade: websocket).", retryAfter: null);
        }

        var headers = request.Headers;
        var route = NonEmpty(headers[CrankerProtocol.RouteHeaderName].ToString()) ?? CrankerProtocol.CatchAll;
        var domain = NonEmpty(headers[CrankerProtocol.DomainHeaderName].ToString()) ?? CrankerProtocol.CatchAll;
        var instanceId = NonEmpty(request.Query[CrankerProtocol.ConnectorInstanceIdQuery].ToString());
        var componentName = NonEmpty(request.Query[CrankerProtocol.ComponentNameQuery].ToString());

        if (!CrankerProtocol.IsValidRoute(route, _options.LongestPrefixRoutes))
        {
            return Refuse(remote, StatusCodes.Status400BadRequest,
                $"Route names are 1 to {CrankerProtocol.MaxRouteLength} characters a first path segment can match (letters, digits, {CrankerProtocol.RouteSymbols}){(_options.LongestPrefixRoutes ? ", joined by /" : "")}, or * for the catch-all.", retryAfter: null);
        }

        if (!verdict.Permits(route))
        {
            return Refuse(remote, RegistrationGuard.RouteNotPermitted(route), retryAfter: null);
        }

        if (request.IsDeregister)
        {
            return new RegistrationDecision { IsDeregister = true, Route = route, InstanceId = instanceId, Remote = remote, Verdict = verdict };
        }

        var legacy = headers[CrankerProtocol.LegacyHeaderName];
        var negotiation = CrankerProtocol.Negotiate(
            WsAccept.RequestedProtocols(headers.SecWebSocketProtocol),
            legacy.Count == 0 ? null : legacy.ToString(),
            _options.Protocols.Select(CrankerProtocol.Normalize).OfType<string>().ToArray());
        if (!negotiation.Accepted)
        {
            return Refuse(remote, StatusCodes.Status400BadRequest, negotiation.Error!, retryAfter: null);
        }

        // putsh extensions: only over cranker_3.0, only those the connector asked for.
        var offered = headers[WsFrame.ExtensionsHeaderName];
        var webSockets = negotiation.Version == CrankerProtocol.V3 && _options.WebSockets
            && WsFrame.Names(offered, WsFrame.WebSocketExtension);
        var flowWindow = negotiation.Version == CrankerProtocol.V3
            ? FlowWindowExtension.Agree(FlowWindowExtension.Parse(offered), _options.MaxFlowWindow)
            : 0;
        var headAcks = FlowWindowExtension.ParseHeadAcks(offered, flowWindow);
        var trailers = negotiation.Version == CrankerProtocol.V3 && _options.Trailers && TrailersExtension.IsNamed(offered);
        var tcp = negotiation.Version == CrankerProtocol.V3 && TcpExtension.IsNamed(offered);

        var admitted = instanceId ?? "unknown-" + remote;
        if (_limits.TryAdmit(remote, route, admitted, out var first) is { } full)
        {
            return Refuse(remote, StatusCodes.Status429TooManyRequests, full, retryAfter: "10");
        }

        return new RegistrationDecision
        {
            Route = route,
            Domain = domain,
            InstanceId = admitted,
            ComponentName = componentName,
            Remote = remote,
            Verdict = verdict,
            Negotiation = negotiation,
            WebSockets = webSockets,
            FlowWindow = flowWindow,
            HeadAcks = headAcks,
            Trailers = trailers,
            Tcp = tcp,
            FirstSocket = first,
            ExtensionsAnswer = WsFrame.ExtensionsValue(webSockets, flowWindow, headAcks, trailers, tcp),
        };
    }

    /// <summary>The options of an accepted connector socket: a ping not answered within the idle timeout means the connector is dead (§1.6).</summary>
    internal PutshWebSocketOptions SocketOptions(string? subProtocol, ReadActivity activity) => new()
    {
        IsServer = true,
        SubProtocol = subProtocol,
        KeepAliveInterval = _options.PingInterval,
        KeepAliveTimeout = _options.PingInterval == TimeSpan.Zero ? Timeout.InfiniteTimeSpan : _options.IdleTimeout,
        Time = _time,
        Activity = activity,
    };

    /// <summary>
    /// Runs an accepted registration: <paramref name="accept"/> answers the upgrade and returns the socket, which
    /// then serves its route until it closes or <paramref name="aborted"/> fires. Releases the admission at the end.
    /// </summary>
    internal async Task RunAsync(RegistrationDecision decision, Func<string?, PutshWebSocketOptions, Task<PutshWebSocket>> accept, CancellationToken aborted)
    {
        try
        {
            var activity = new ReadActivity(_time);
            await using var socket = await accept(decision.Negotiation.SubProtocol, SocketOptions(decision.Negotiation.SubProtocol, activity));
            await ServeAsync(socket, activity, decision, aborted);
        }
        finally
        {
            _limits.Release(decision.Remote, decision.Route, decision.InstanceId!);
        }
    }

    private async Task ServeAsync(PutshWebSocket socket, ReadActivity activity, RegistrationDecision decision, CancellationToken aborted)
    {
        var negotiation = decision.Negotiation;
        var instanceId = decision.InstanceId!;
        var route = decision.Route;
        var info = new ConnectorInfo(route, negotiation.Version == CrankerProtocol.V3 ? decision.Domain : CrankerProtocol.CatchAll, instanceId, decision.ComponentName, decision.Remote, negotiation.Version!);

        if (decision.FirstSocket)
        {
            RouterLog.ConnectorRegistered(_logger, instanceId, decision.ComponentName, decision.Remote, route, negotiation.Version!);
        }

        _metrics.Registration("accepted", protocol: negotiation.Version);

        // Not the host's stopping token: on shutdown the sockets stay routable until the drain is over, then
        // RouterDrain closes them with 1001; an aborted connection ends this too.
        if (negotiation.Version == CrankerProtocol.V3)
        {
            // v3 sockets live in per-domain pools (§3.4); v1 sockets ignore Domain (§1.5).
            // A socket of a TCP route (§12.9) serves connections from --tcp-listen ports, never HTTP requests.
            var pool = decision.Tcp ? _table.GetOrAddTcp(route) : _table.GetOrAddV3(info.Domain, route);
            var settings = new V3SessionSettings
            {
                FlowWindow = decision.FlowWindow > 0 ? decision.FlowWindow : V3Frame.HighWatermark,
                HeadAcks = decision.HeadAcks,
                Trailers = decision.Trailers,
                MaxStreams = _options.MaxStreamsPerSocket,
                MaxMessage = _options.MaxConnectorMessageSize,
                MaxStrays = _options.MaxStrayMessages,
            };
            using var routerSocket = new RouterSocketV3(socket, info, _time, _logger, settings, decision.WebSockets) { Activity = activity, PongTimeout = _options.EffectivePongTimeout, IsTcp = decision.Tcp };
            RouterLog.SocketRegistered(_logger, routerSocket.Id, instanceId, route);
            var run = routerSocket.RunAsync(aborted);
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
            var run = routerSocket.RunAsync(aborted);
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

        await using var ws = await WsAccept.AcceptAsync(context, null, new PutshWebSocketOptions { IsServer = true, Time = _time });
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

    private RegistrationDecision Refuse(string remote, int status, string reason, string? retryAfter) =>
        Refuse(remote, new RegistrationVerdict(status, reason, null, null), retryAfter);

    private RegistrationDecision Refuse(string remote, RegistrationVerdict verdict, string? retryAfter)
    {
        _guard.LogRefusal(remote, verdict.Status, verdict.Reason!);
        _metrics.Registration("refused", RouterMetrics.RefusalReason(verdict.Status));
        return new RegistrationDecision { Remote = remote, Verdict = verdict, RetryAfter = retryAfter };
    }

    private static Task WriteRefusalAsync(HttpContext context, RegistrationDecision decision)
    {
        var headers = context.Response.Headers;
        if (decision.RetryAfter is { } retryAfter)
        {
            headers.RetryAfter = retryAfter;
        }

        if (decision.Verdict.Challenge is { } challenge)
        {
            headers.WWWAuthenticate = challenge;
        }

        headers.CacheControl = "no-store";
        context.Response.StatusCode = decision.Verdict.Status;
        context.Response.ContentType = "text/plain; charset=utf-8";
        return context.Response.WriteAsync(decision.Verdict.Reason! + "\n");
    }
}

/// <summary>What <see cref="RegistrationHandler.Decide"/> made of a request: a refusal, a deregistration, or a socket to accept.</summary>
internal sealed class RegistrationDecision
{
    public bool Accepted => Verdict.Accepted;

    public RegistrationVerdict Verdict { get; init; }

    public string? RetryAfter { get; init; }

    public bool IsDeregister { get; init; }

    public string Route { get; init; } = CrankerProtocol.CatchAll;

    public string Domain { get; init; } = CrankerProtocol.CatchAll;

    /// <summary>The instance id (for an accepted registration, the one admitted: <c>unknown-</c> and the address when none was sent).</summary>
    public string? InstanceId { get; init; }

    public string? ComponentName { get; init; }

    public required string Remote { get; init; }

    public NegotiationResult Negotiation { get; init; }

    public bool WebSockets { get; init; }

    public int FlowWindow { get; init; }

    public HeadAcks HeadAcks { get; init; }

    public bool Trailers { get; init; }

    public bool Tcp { get; init; }

    public bool FirstSocket { get; init; }

    /// <summary>The <c>Putsh-Extensions</c> answer (docs/protocol.md §12.1), if any extension was agreed.</summary>
    public string? ExtensionsAnswer { get; init; }
}
