using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Globalization;
using System.Net.WebSockets;
using Putsh.Protocol;

namespace Putsh.Connector;

/// <summary>The connector's <see cref="Meter"/>, for hosts that enable or export its instruments by name.</summary>
public static class ConnectorMeter
{
    /// <summary>The meter name, <c>Putsh.Connector</c>. Every connector instrument is on a meter of this name.</summary>
    public const string Name = "Putsh.Connector";
}

/// <summary>
/// The connector's instruments (docs/metrics.md), on one <see cref="System.Diagnostics.Metrics.Meter"/> per
/// connector: from the host's <see cref="IMeterFactory"/> when there is one (the factory owns it), else created here and
/// disposed with the connector. Each method checks <see cref="Instrument.Enabled"/> first, so with nothing listening a
/// request costs two timestamps and a few branches: no tags are built and nothing is allocated.
/// </summary>
internal sealed class ConnectorMetrics : IDisposable
{
    /// <summary>Instrument names.</summary>
    public const string SocketsName = "putsh.connector.sockets";
    public const string RegistrationsName = "putsh.connector.registrations";
    public const string ReconnectsName = "putsh.connector.reconnects";
    public const string BackoffDurationName = "putsh.connector.backoff.duration";
    public const string RequestDurationName = "putsh.connector.request.duration";
    public const string BackendDurationName = "putsh.connector.backend.duration";
    public const string BackendFailuresName = "putsh.connector.backend.failures";
    public const string ActiveRequestsName = "putsh.connector.requests.active";

    /// <summary>Attribute names: OpenTelemetry's where one exists, <c>putsh.*</c> for ours.</summary>
    public const string RouterTag = "putsh.router";
    public const string ProtocolTag = "putsh.cranker.protocol";
    public const string SocketStateTag = "putsh.socket.state";
    public const string OutcomeTag = "putsh.registration.outcome";
    public const string MethodTag = "http.request.method";
    public const string StatusCodeTag = "http.response.status_code";
    public const string ErrorTypeTag = "error.type";

    /// <summary>Values of <see cref="SocketStateTag"/> and <see cref="OutcomeTag"/>.</summary>
    public const string Idle = "idle";
    public const string Busy = "busy";
    public const string Accepted = "accepted";
    public const string Refused = "refused";
    public const string Failed = "failed";

    /// <summary>The fixed <see cref="ErrorTypeTag"/> values; any other failure is named by its exception's full type name.</summary>
    public const string ConnectFailed = "connect_failed";
    public const string Timeout = "timeout";
    public const string ResponseBodyError = "response_body_error";
    public const string ResetByRouter = "reset_by_router";
    public const string HandlerError = "handler_error";

    /// <summary>OpenTelemetry's bucket boundaries for HTTP durations, in seconds.</summary>
    private static readonly InstrumentAdvice<double> s_durationAdvice = new()
    {
        HistogramBucketBoundaries = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10],
    };

    private readonly TimeProvider _time;
    private readonly bool _ownsMeter;
    private readonly Counter<long> _registrations;
    private readonly Counter<long> _reconnects;
    private readonly Histogram<double> _backoff;
    private readonly Histogram<double> _requestDuration;
    private readonly Histogram<double> _backendDuration;
    private readonly Counter<long> _backendFailures;
    // Requests in flight per protocol, counted always (two interlocked operations) and reported only when a collector
    // asks: an observable instrument costs an exporter nothing per request.
    private long _activeV1;
    private long _activeV3;

    /// <summary>Creates the meter and its instruments; <paramref name="observeSockets"/> reports the open sockets when asked.</summary>
    public ConnectorMetrics(IMeterFactory? meterFactory, TimeProvider time, Func<IEnumerable<Measurement<long>>> observeSockets)
    {
        _time = time;
        Target = new TargetHealth(time);
        if (meterFactory is not null)
        {
            Meter = meterFactory.Create(new MeterOptions(ConnectorMeter.Name));
        }
        else
        {
            Meter = new Meter(ConnectorMeter.Name);
            _ownsMeter = true;
        }

        Meter.CreateObservableUpDownCounter(SocketsName, observeSockets, "{socket}", "Sockets open to routers, by router, protocol and state (idle, or busy carrying requests).");
        _registrations = Meter.CreateCounter<long>(RegistrationsName, "{registration}", "Registration attempts (socket handshakes with a router), by router and outcome.");
        _reconnects = Meter.CreateCounter<long>(ReconnectsName, "{reconnect}", "Sockets opened again after a failed attempt or a lost socket, by router.");
        _backoff = Meter.CreateHistogram(BackoffDurationName, "s", "Backoff delays taken before dialling a router again after a failure.", tags: null, s_durationAdvice);
        _requestDuration = Meter.CreateHistogram(RequestDurationName, "s", "Requests served, from the request head arriving to the end of the response or its failure.", tags: null, s_durationAdvice);
        _backendDuration = Meter.CreateHistogram(BackendDurationName, "s", "Backend calls, from sending the request to receiving the response headers.", tags: null, s_durationAdvice);
        _backendFailures = Meter.CreateCounter<long>(BackendFailuresName, "{failure}", "Requests forwarded to the backend that failed, by error type.");
        Meter.CreateObservableUpDownCounter(ActiveRequestsName, ObserveActive, "{request}", "Requests in flight, by protocol.");
    }

    /// <summary>The connector's meter; tests scope their collectors to it.</summary>
    public Meter Meter { get; }

    /// <summary>Whether the backend is failing every call, fed by <see cref="BackendEnded"/> whether or not anything listens.</summary>
    public TargetHealth Target { get; private init; } = null!;

    /// <summary>A request head arrived and is about to be served. Returns true (pass it to <see cref="RequestEnded"/>).</summary>
    public bool RequestStarted(string protocol)
    {
        Interlocked.Increment(ref protocol == CrankerProtocol.V1 ? ref _activeV1 : ref _activeV3);
        return true;
    }

    /// <summary>
    /// A request ended: <paramref name="status"/> is what was sent to the router, if anything; <paramref name="errorType"/>
    /// is set when it failed. <paramref name="countedActive"/> is what <see cref="RequestStarted"/> returned.
    /// </summary>
    public void RequestEnded(bool countedActive, string protocol, long startTimestamp, string method, int? status, string? errorType)
    {
        if (countedActive)
        {
            Interlocked.Decrement(ref protocol == CrankerProtocol.V1 ? ref _activeV1 : ref _activeV3);
        }

        if (!_requestDuration.Enabled)
        {
            return;
        }

        var tags = new TagList
        {
            { MethodTag, KnownMethod(method) },
            { ProtocolTag, protocol },
        };
        if (status is { } code)
        {
            tags.Add(StatusCodeTag, BoxedStatusCode(code));
        }

        if (errorType is not null)
        {
            tags.Add(ErrorTypeTag, errorType);
        }

        _requestDuration.Record(_time.GetElapsedTime(startTimestamp).TotalSeconds, tags);
    }

    /// <summary>The backend call started at <paramref name="startTimestamp"/> ended: with response headers, or failing with <paramref name="errorType"/>.</summary>
    public void BackendEnded(long startTimestamp, string method, int? status, string? errorType)
    {
        if (errorType is null && status < 500)
        {
            Target.Succeeded();
        }
        else if (errorType != ResetByRouter)
        {
            Target.Failed();
        }

        if (!_backendDuration.Enabled)
        {
            return;
        }

        var tags = new TagList { { MethodTag, KnownMethod(method) } };
        if (status is { } code)
        {
            tags.Add(StatusCodeTag, BoxedStatusCode(code));
        }

        if (errorType is not null)
        {
            tags.Add(ErrorTypeTag, errorType);
        }

        _backendDuration.Record(_time.GetElapsedTime(startTimestamp).TotalSeconds, tags);
    }

    /// <summary>A request forwarded to the backend failed (<see cref="BackendErrorType"/>).</summary>
    public void BackendFailed(string errorType)
    {
        if (_backendFailures.Enabled)
        {
            _backendFailures.Add(1, new KeyValuePair<string, object?>(ErrorTypeTag, errorType));
        }
    }

    /// <summary>A registration attempt (one socket handshake) with <paramref name="router"/> ended with <paramref name="outcome"/>.</summary>
    public void Registration(string router, string outcome, string? errorType)
    {
        if (!_registrations.Enabled)
        {
            return;
        }

        var tags = new TagList
        {
            { RouterTag, router },
            { OutcomeTag, outcome },
        };
        if (errorType is not null)
        {
            tags.Add(ErrorTypeTag, errorType);
        }

        _registrations.Add(1, tags);
    }

    /// <summary>A socket to <paramref name="router"/> was opened again after a failure or a lost socket.</summary>
    public void Reconnected(string router)
    {
        if (_reconnects.Enabled)
        {
            _reconnects.Add(1, new KeyValuePair<string, object?>(RouterTag, router));
        }
    }

    /// <summary>The connector waits <paramref name="delay"/> before dialling <paramref name="router"/> again.</summary>
    public void BackoffTaken(string router, TimeSpan delay)
    {
        if (_backoff.Enabled)
        {
            _backoff.Record(delay.TotalSeconds, new KeyValuePair<string, object?>(RouterTag, router));
        }
    }

    /// <summary>One <see cref="SocketsName"/> measurement.</summary>
    public static Measurement<long> SocketCount(long count, string router, string protocol, string state) =>
        new(count, new TagList
        {
            { RouterTag, router },
            { ProtocolTag, protocol },
            { SocketStateTag, state },
        });

    /// <summary>
    /// Names a failed backend call for <see cref="ErrorTypeTag"/>: <see cref="ResponseBodyError"/> once response headers
    /// were in, else <see cref="ConnectFailed"/>, <see cref="Timeout"/>, or the exception's full type name.
    /// </summary>
    public static string BackendErrorType(Exception exception, bool responseHeadersReceived) =>
        responseHeadersReceived ? ResponseBodyError : ErrorType(exception);

    /// <summary>
    /// Names a failed connection (to a backend or a router): <see cref="ConnectFailed"/> when no connection could be
    /// made, <see cref="Timeout"/> when an attempt ran out of time, else the exception's full type name.
    /// </summary>
    public static string ErrorType(Exception exception)
    {
        var inner = exception is WebSocketException or Putsh.Protocol.WebSockets.WsConnectException && exception.InnerException is { } wrapped ? wrapped : exception;
        return inner switch
        {
            System.Net.Sockets.SocketException or System.Security.Authentication.AuthenticationException => ConnectFailed,
            HttpRequestException { HttpRequestError: HttpRequestError.ConnectionError or HttpRequestError.NameResolutionError or HttpRequestError.SecureConnectionError } => ConnectFailed,
            OperationCanceledException or TimeoutException => Timeout,
            _ => exception.GetType().FullName ?? "_OTHER",
        };
    }

    /// <summary>A status code as an <see cref="ErrorTypeTag"/> value (registration refused or failed with a status).</summary>
    public static string StatusText(int status) => status.ToString(CultureInfo.InvariantCulture);

    /// <summary>The method as OpenTelemetry wants it: one of the standard methods, else <c>_OTHER</c> (bounded cardinality).</summary>
    public static string KnownMethod(string method) => method switch
    {
        "GET" => "GET",
        "POST" => "POST",
        "PUT" => "PUT",
        "DELETE" => "DELETE",
        "HEAD" => "HEAD",
        "OPTIONS" => "OPTIONS",
        "PATCH" => "PATCH",
        "CONNECT" => "CONNECT",
        "TRACE" => "TRACE",
        _ => "_OTHER",
    };

private static object BoxedStatusCode(int status) => Putsh.Protocol.Diagnostics.TelemetryValues.BoxedStatusCode(status);

    /// <summary>Disposes the meter when the connector created it; a factory's meter is the factory's to dispose.</summary>
    public void Dispose()
    {
        if (_ownsMeter)
        {
            Meter.Dispose();
        }
    }

    private IEnumerable<Measurement<long>> ObserveActive() =>
    [
        new(Volatile.Read(ref _activeV1), new KeyValuePair<string, object?>(ProtocolTag, CrankerProtocol.V1)),
        new(Volatile.Read(ref _activeV3), new KeyValuePair<string, object?>(ProtocolTag, CrankerProtocol.V3)),
    ];
}
