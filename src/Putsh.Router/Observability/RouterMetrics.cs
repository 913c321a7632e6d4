using System.Diagnostics;
using System.Diagnostics.Metrics;
using Microsoft.AspNetCore.Http;

namespace Putsh.Router.Observability;

/// <summary>The names a host uses to export the router's instruments (docs/metrics.md lists them all).</summary>
public static class RouterMeter
{
    /// <summary>The meter that holds every router instrument.</summary>
    public const string Name = "Putsh.Router";
}

/// <summary>
/// The router's instruments (docs/metrics.md). Recording is a no-op, and builds no tags, while nothing listens; the
/// observable instruments read <see cref="LiveSockets"/> only when a collector asks.
/// </summary>
internal sealed class RouterMetrics
{
    /// <summary>OpenTelemetry's boundaries for HTTP durations, in seconds.</summary>
    internal static readonly IReadOnlyList<double> DurationBuckets = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10];

    private readonly Histogram<double> _requestDuration;
    private readonly Histogram<double> _socketWait;
    private readonly Counter<long> _errors;
    private readonly Counter<long> _registrations;
    private readonly Counter<long> _deregistrations;
    private readonly Counter<long> _tcpConnections;
    // Open v3 streams, counted always and reported only when a collector asks, as are the bytes (from RouteStats):
    // an observable instrument costs an exporter nothing per request.
    private long _streams;

    private readonly RouteStats _stats;

    public RouterMetrics(IMeterFactory factory, LiveSockets sockets, RouteStats stats)
    {
        _stats = stats;
        Meter = factory.Create(RouterMeter.Name);
        var durationAdvice = new InstrumentAdvice<double> { HistogramBucketBoundaries = DurationBuckets };
        _requestDuration = Meter.CreateHistogram("putsh.router.request.duration", "s", "Duration of proxied client requests, from arrival to the end of the response.", advice: durationAdvice);
        _socketWait = Meter.CreateHistogram("putsh.router.socket.wait.duration", "s", "Time a request waited for a connector socket.", advice: durationAdvice);
        _errors = Meter.CreateCounter<long>("putsh.router.errors", "{request}", "Requests the router answered with an error of its own (404, 502, 503, 504) or aborted, by cause.");
        _registrations = Meter.CreateCounter<long>("putsh.router.registrations", "{registration}", "Connector socket registrations, accepted or refused (and why).");
        _deregistrations = Meter.CreateCounter<long>("putsh.router.deregistrations", "{deregistration}", "Connector deregistration requests, by outcome.");
        _tcpConnections = Meter.CreateCounter<long>("putsh.router.tcp.connections", "{connection}", "Client connections to TCP routes (the tcp extension), by route and outcome.");
        Meter.CreateObservableUpDownCounter("putsh.router.v3.streams", () => Volatile.Read(ref _streams), "{stream}", "cranker_3.0 streams open now.");
        Meter.CreateObservableCounter("putsh.router.io", () => ObserveBytes(stats), "By", "Body bytes received from clients and sent to them, by route.");
        Meter.CreateObservableUpDownCounter("putsh.router.sockets", () => ObserveSockets(sockets), "{socket}", "Connector sockets open now, by route, protocol and state (idle or busy).");
        Meter.CreateObservableUpDownCounter("putsh.router.connector.instances", () => ObserveInstances(sockets), "{instance}", "Connector instances with at least one socket open, by route.");
    }

    public Meter Meter { get; }

    public bool RequestDurationEnabled => _requestDuration.Enabled;

    /// <summary>One proxied request ended, however it ended.</summary>
    public void RequestEnded(HttpContext context, in ProxyResult result, TimeSpan duration)
    {
        if (result.Route is { } served)
        {
            _stats.For(served).Ended(context.Response.StatusCode, result.ErrorType is not null, duration);
            Transferred(served, result.BytesReceived, result.BytesSent);
        }

        if (_requestDuration.Enabled)
        {
            var tags = new TagList
            {
                { "http.request.method", KnownMethod(context.Request.Method) },
                { "http.response.status_code", Putsh.Protocol.Diagnostics.TelemetryValues.BoxedStatusCode(context.Response.StatusCode) },
            };
            AddRoute(ref tags, result);
            if (result.ErrorType is { } error)
            {
                tags.Add("error.type", error);
            }

            _requestDuration.Record(duration.TotalSeconds, tags);
        }

        if (result.ErrorType is { } cause && _errors.Enabled)
        {
            var tags = new TagList { { "error.type", cause }, { "http.response.status_code", context.Response.StatusCode } };
            AddRoute(ref tags, result);
            _errors.Add(1, tags);
        }
    }

    /// <summary>Time spent getting a socket for a request on <paramref name="route"/>.</summary>
    public void SocketWaited(string route, string protocol, TimeSpan waited)
    {
        if (_socketWait.Enabled)
        {
            _socketWait.Record(waited.TotalSeconds, new TagList { { "http.route", route }, { "putsh.cranker.protocol", protocol } });
        }
    }

    /// <summary>Body bytes of one request (<paramref name="received"/> from the client) and its response (<paramref name="sent"/> to it).</summary>
    public void Transferred(string route, long received, long sent) => _stats.For(route).Transferred(received, sent);

    public void StreamOpened() => Interlocked.Increment(ref _streams);

    public void StreamClosed() => Interlocked.Decrement(ref _streams);

    /// <summary>A registration ended in <paramref name="outcome"/> (<c>accepted</c> or <c>refused</c>, with the refusal's <paramref name="reason"/>).</summary>
    public void Registration(string outcome, string? reason = null, string? protocol = null)
    {
        if (!_registrations.Enabled)
        {
            return;
        }

        var tags = new TagList { { "putsh.registration.outcome", outcome } };
        if (reason is not null)
        {
            tags.Add("error.type", reason);
        }

        if (protocol is not null)
        {
            tags.Add("putsh.cranker.protocol", protocol);
        }

        _registrations.Add(1, tags);
    }

    /// <summary>A client connection to a TCP route ended: <c>relayed</c> (both directions closed cleanly), <c>failed</c>, or <c>no_connector</c>.</summary>
    public void TcpConnection(string route, string outcome)
    {
        if (_tcpConnections.Enabled)
        {
            _tcpConnections.Add(1, new KeyValuePair<string, object?>("putsh.tcp.route", route), new KeyValuePair<string, object?>("putsh.tcp.outcome", outcome));
        }
    }

    public void Deregistration(string outcome) => _deregistrations.Add(1, new KeyValuePair<string, object?>("putsh.registration.outcome", outcome));

    /// <summary>The low-cardinality reason for a refused registration with <paramref name="status"/>.</summary>
    public static string RefusalReason(int status) => status switch
    {
        StatusCodes.Status400BadRequest => "bad_request",
        StatusCodes.Status401Unauthorized => "unauthenticated",
        StatusCodes.Status403Forbidden => "forbidden",
        StatusCodes.Status429TooManyRequests => "limit_reached",
        _ => "refused",
    };

    /// <summary>The method as OpenTelemetry names it: one of the standard methods, else <c>_OTHER</c>.</summary>
    internal static string KnownMethod(string method) => method switch
    {
        _ when HttpMethods.IsGet(method) => HttpMethods.Get,
        _ when HttpMethods.IsPost(method) => HttpMethods.Post,
        _ when HttpMethods.IsPut(method) => HttpMethods.Put,
        _ when HttpMethods.IsDelete(method) => HttpMethods.Delete,
        _ when HttpMethods.IsHead(method) => HttpMethods.Head,
        _ when HttpMethods.IsOptions(method) => HttpMethods.Options,
        _ when HttpMethods.IsPatch(method) => HttpMethods.Patch,
        _ when HttpMethods.IsTrace(method) => HttpMethods.Trace,
        _ when HttpMethods.IsConnect(method) => HttpMethods.Connect,
        _ => "_OTHER",
    };

    private static void AddRoute(ref TagList tags, in ProxyResult result)
    {
        if (result.Route is { } route)
        {
            tags.Add("http.route", route);
        }

        if (result.Protocol is { } protocol)
        {
            tags.Add("putsh.cranker.protocol", protocol);
        }
    }

    private static IEnumerable<Measurement<long>> ObserveBytes(RouteStats stats)
    {
        foreach (var (route, counters) in stats.All())
        {
            yield return new Measurement<long>(counters.BytesReceived, new TagList { { "http.route", route }, { "network.io.direction", "receive" } });
            yield return new Measurement<long>(counters.BytesSent, new TagList { { "http.route", route }, { "network.io.direction", "transmit" } });
        }
    }

    private static IEnumerable<Measurement<long>> ObserveSockets(LiveSockets sockets)
    {
        var counts = new Dictionary<(string Route, string Protocol, bool Busy), long>();
        foreach (var socket in sockets.Snapshot())
        {
            var key = (socket.Connector.Route, socket.Connector.Protocol, socket.InFlight > 0);
            counts[key] = counts.GetValueOrDefault(key) + 1;
        }

        foreach (var ((route, protocol, busy), count) in counts)
        {
            yield return new Measurement<long>(count, new TagList { { "http.route", route }, { "putsh.cranker.protocol", protocol }, { "putsh.socket.state", busy ? "busy" : "idle" } });
        }
    }

    private static IEnumerable<Measurement<long>> ObserveInstances(LiveSockets sockets)
    {
        foreach (var group in sockets.Snapshot().GroupBy(s => s.Connector.Route, StringComparer.Ordinal))
        {
            yield return new Measurement<long>(group.Select(s => s.Connector.InstanceId).Distinct(StringComparer.Ordinal).LongCount(), new KeyValuePair<string, object?>("http.route", group.Key));
        }
    }
}

/// <summary>What a proxied request's metrics say of it: the route and protocol that served it, and why it failed.</summary>
/// <param name="Route">The route that matched, if any.</param>
/// <param name="Protocol">The Cranker protocol of the socket that served it, if one was chosen.</param>
/// <param name="ErrorType">
/// Null for a request the connector answered; else <c>no_route</c>, <c>no_socket</c>, <c>no_websocket_connector</c>,
/// <c>socket_lost</c>, <c>connector_error</c>, <c>protocol_error</c>, <c>timeout</c>, <c>client_gone</c> or, for a
/// response that failed after it began, <c>aborted</c>.
/// </param>
internal readonly record struct ProxyResult(string? Route, string? Protocol, string? ErrorType)
{
    /// <summary>The connector instance whose socket carried the request, if one did.</summary>
    public string? Instance { get; init; }

    /// <summary>Request body bytes read from the client and sent on.</summary>
    public long BytesReceived { get; init; }

    /// <summary>Response body bytes written to the client.</summary>
    public long BytesSent { get; init; }
}
