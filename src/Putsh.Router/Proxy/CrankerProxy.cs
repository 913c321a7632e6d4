using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Putsh.Router.Hosting;
using Putsh.Router.Observability;
using Putsh.Router.Routing;
using Putsh.Router.Sockets;

namespace Putsh.Router.Proxy;

/// <summary>
/// The client listener's handler: route the request (§3.1), take a connector socket (§3.3), run the exchange, and
/// answer the router's own errors (§3.5).
/// </summary>
internal sealed class CrankerProxy(RouteTable table, IOptions<RouterOptions> options, TimeProvider time, ILogger<CrankerProxy> logger, RouterDrain drain, RouterMetrics metrics, ILoggerFactory loggers)
{
    private readonly ILogger accessLog = loggers.CreateLogger(RouterLog.AccessCategory);

    private const string V1 = Protocol.CrankerProtocol.V1;
    private const string V3 = Protocol.CrankerProtocol.V3;

    private readonly RouterOptions _options = options.Value;

    public async Task HandleAsync(HttpContext context)
    {
        // Counted so that a stopping router closes its connector sockets only when no request still needs one.
        drain.RequestStarted();
        var started = time.GetTimestamp();
        var result = new ProxyResult(null, null, "client_gone");
        var activity = RouterTracing.Start(context);
        try
        {
            result = await ProxyAsync(context);
        }
        finally
        {
            drain.RequestEnded();
            var elapsed = time.GetElapsedTime(started);
            metrics.RequestEnded(context, result, elapsed);
            if (_options.AccessLog)
            {
                RouterLog.Access(accessLog, context.Request.Method, context.Request.Path.Value ?? "/", context.Response.StatusCode, elapsed.TotalMilliseconds, result.Route ?? "-", result.Instance ?? "-", result.BytesReceived, result.BytesSent, result.ErrorType ?? "-", TraceId(context, activity));
            }
            if (activity is not null)
            {
                RouterTracing.Stop(activity, context, result);
            }
        }
    }

    private async Task<ProxyResult> ProxyAsync(HttpContext context)
    {
        var request = context.Request;
        var path = request.Path.Value ?? "/";
        if (HttpMethods.IsTrace(request.Method))
        {
            await ErrorPages.MethodNotAllowed(context);
            return default;
        }

        var decodedPath = request.PathBase.Add(request.Path).Value ?? "/";
        var webSocket = _options.WebSockets && Registration.WsAccept.IsClientWebSocketRequest(context);
        var choice = table.Choose(Domain(context), decodedPath, webSocket);
        if (choice.Route is null)
        {
            RouterLog.NoRoute(logger, request.Method, path);
            await ErrorPages.NotFound(context);
            return new ProxyResult(null, null, "no_route");
        }

        if (webSocket && choice.V3 is null)
        {
            // Never an upgrade to a connector that did not declare the websocket extension.
            RouterLog.ProxyFailed(logger, request.Method, path, choice.Route, Sockets.SocketEnd.ProtocolError, "no connector of the route supports WebSockets", 502);
            await ErrorPages.NoWebSocketConnector(context, choice.Route);
            return new ProxyResult(choice.Route, null, "no_websocket_connector");
        }

        if (choice.V3 is null && choice.V1 is null)
        {
            RouterLog.NoSocket(logger, request.Method, path, choice.Route, TimeSpan.Zero);
            await ErrorPages.WriteAsync(context, 503, "503 Service Unavailable", "V3 connector not available");
            return new ProxyResult(choice.Route, V3, "no_socket");
        }

        if (context.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } bodySize)
        {
            bodySize.MaxRequestBodySize = _options.MaxRequestBodySize;
        }

        // A request whose head could not be written whole is sent once more elsewhere if repeating it is harmless
        // (RFC 9110 §9.2.2); one whose head went out is never sent again, as it may have reached the backend.
        var mayRetry = IsIdempotent(request.Method);
        if (choice.V3 is { } v3)
        {
            // A v3 socket that closed between the choice and now takes no stream; nothing was sent, so choose again.
            var notSent = 0;
            while (v3 is not null)
            {
                var exchange = new V3ProxyExchange(context, v3, choice.Route, _options, logger, webSocket, mayRetry);
                metrics.StreamOpened();
                ExchangeResult result;
                try
                {
                    result = await exchange.RunAsync();
                }
                finally
                {
                    metrics.StreamClosed();
                }

                if (result == ExchangeResult.Done)
                {
                    RecordHealth(v3.Connector.InstanceId, exchange.ErrorType, context.Response.StatusCode);
                    return new ProxyResult(choice.Route, V3, exchange.ErrorType) { Instance = v3.Connector.InstanceId, BytesReceived = exchange.BytesReceived, BytesSent = exchange.BytesSent };
                }

                // Sent again, it goes to another connector where there is one: a lost socket's siblings often share its fate.
                v3 = table.Choose(Domain(context), decodedPath, webSocket, result == ExchangeResult.Unsent ? v3.Connector.InstanceId : null).V3;
                if (result == ExchangeResult.Unsent)
                {
                    mayRetry = false;
                    if (v3 is null)
                    {
                        return new ProxyResult(choice.Route, V3, await ProxyOutcome.FinishAsync(context, logger, choice.Route, SocketEnd.SocketLost, exchange.Unsent, responseStarted: false, clientGone: false));
                    }

                    RouterLog.RetryingUnsent(logger, request.Method, path, choice.Route, exchange.Unsent);
                }
                else if (++notSent == 3)
                {
                    break;
                }
            }

            await ErrorPages.WriteAsync(context, 503, "503 Service Unavailable", "V3 connector not available");
            return new ProxyResult(choice.Route, V3, "no_socket");
        }

        var pool = choice.V1!;
        var started = time.GetTimestamp();
        while (true)
        {
            var remaining = _options.SocketAcquireTimeout - time.GetElapsedTime(started);
            Sockets.RouterSocketV1? socket;
            try
            {
                socket = await pool.AcquireAsync(remaining, context.RequestAborted);
            }
            catch (OperationCanceledException)
            {
                // The client left while waiting; any socket handed over went back to the pool unused.
                RouterLog.ClientGone(logger, request.Method, path);
                return new ProxyResult(pool.Route, V1, "client_gone");
            }

            metrics.SocketWaited(pool.Route, V1, time.GetElapsedTime(started));
            if (socket is null)
            {
                RouterLog.NoSocket(logger, request.Method, path, pool.Route, _options.SocketAcquireTimeout);
                await ErrorPages.NoSocket(context, _options.SocketAcquireTimeout);
                return new ProxyResult(pool.Route, V1, "no_socket");
            }

            var exchange = new V1ProxyExchange(context, socket, pool.Route, _options, logger, mayRetry);
            if (!socket.TryAssign(exchange))
            {
                continue; // it closed between the pool and us; nothing was sent, so another socket may take the request
            }

            switch (await exchange.RunAsync())
            {
                case ExchangeResult.Done:
                    return new ProxyResult(pool.Route, V1, exchange.ErrorType) { Instance = socket.ConnectorInstanceId, BytesReceived = exchange.BytesReceived, BytesSent = exchange.BytesSent };
                case ExchangeResult.Unsent:
                    mayRetry = false;
                    RouterLog.RetryingUnsent(logger, request.Method, path, pool.Route, exchange.Unsent);
                    break;
            }
        }
    }

    /// <summary>The request's trace id for the access log: its span's, else the client's <c>traceparent</c>'s, else <c>-</c>.</summary>
    private static string TraceId(HttpContext context, System.Diagnostics.Activity? activity)
    {
        if ((activity ?? System.Diagnostics.Activity.Current) is { } span)
        {
            return span.TraceId.ToHexString();
        }

        // 00-<32 hex trace id>-<16 hex parent id>-<flags> (W3C Trace Context §3.2).
        var parent = context.Request.Headers.TraceParent.ToString();
        return parent.Length >= 55 && parent[2] == '-' && parent[35] == '-' ? parent.Substring(3, 32) : "-";
    }

    /// <summary>
    /// Feeds passive health (<see cref="PassiveHealth"/>): a request the connector or its backend failed (a reset, a
    /// lost socket, a broken protocol, a timeout, or a 502, 503 or 504 from the backend) counts against its instance;
    /// one the client gave up on counts neither way.
    /// </summary>
    private void RecordHealth(string instanceId, string? errorType, int status)
    {
        if (errorType is "client_gone" or "aborted")
        {
            return;
        }

        table.Health.Record(instanceId, failed: errorType is not null || status is 502 or 503 or 504);
    }

    private static bool IsIdempotent(string method) =>
        HttpMethods.IsGet(method) || HttpMethods.IsHead(method) || HttpMethods.IsOptions(method) || HttpMethods.IsPut(method) || HttpMethods.IsDelete(method);

    /// <summary>The host a request is for (§3.2): the TLS server name if any, else the Host header without its port.</summary>
    internal static string Domain(HttpContext context)
    {
        var sni = context.Features.Get<ITlsHandshakeFeature>()?.HostName;
        if (!string.IsNullOrEmpty(sni))
        {
            return sni;
        }

        var host = context.Request.Host;
        return host.HasValue ? host.Host : Protocol.CrankerProtocol.CatchAll;
    }
}
