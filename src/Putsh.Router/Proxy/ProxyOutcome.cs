using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Putsh.Router.Sockets;

namespace Putsh.Router.Proxy;

/// <summary>How an exchange that has ended is answered to its client (§3.5), the same for both protocol versions.</summary>
internal static class ProxyOutcome
{
    /// <summary>
    /// The connector ended the socket with a close frame of its own (1000, or 1001 going away): it closes only sockets it
    /// holds idle, and sends nothing after its close, so a request it said nothing about was never taken.
    /// </summary>
    public static bool ClosedAsIdle(SocketEnd end, System.Net.WebSockets.WebSocketCloseStatus? closeStatus) =>
        end == SocketEnd.Completed || (end == SocketEnd.ConnectorError && closeStatus == System.Net.WebSockets.WebSocketCloseStatus.EndpointUnavailable);

    /// <summary>Answers or aborts the client as <paramref name="end"/> requires; returns the metrics' <c>error.type</c>, null when the exchange succeeded.</summary>
    public static async Task<string?> FinishAsync(HttpContext context, ILogger logger, string route, SocketEnd end, string? detail, bool responseStarted, bool clientGone)
    {
        var method = context.Request.Method;
        var path = context.Request.Path.Value ?? "/";
        if (clientGone || context.RequestAborted.IsCancellationRequested)
        {
            RouterLog.ClientGone(logger, method, path);
            context.Abort();
            return "client_gone";
        }

        if (end == SocketEnd.Completed && responseStarted)
        {
            return null;
        }

        if (responseStarted)
        {
            // Too late for a status: the client must see a failure, not a clean end (§3.5).
            RouterLog.ProxyAborted(logger, method, path, route, end, detail);
            context.Abort();
            return "aborted";
        }

        if (end == SocketEnd.TimedOut)
        {
            RouterLog.ProxyFailed(logger, method, path, route, end, detail, 504);
            await ErrorPages.GatewayTimeout(context, route);
            return "timeout";
        }

        // Also for a v1 close other than 1000 before the head: 502, where mu ends with a 500 page (§4.6, §11.2).
        RouterLog.ProxyFailed(logger, method, path, route, end, detail, 502);
        await ErrorPages.BadGateway(context, route);
        return ErrorType(end);
    }

    /// <summary>The metrics' <c>error.type</c> for a 502 after <paramref name="end"/>.</summary>
    public static string ErrorType(SocketEnd end) => end switch
    {
        SocketEnd.SocketLost or SocketEnd.ClosedByRouter => "socket_lost",
        SocketEnd.ProtocolError => "protocol_error",
        SocketEnd.TimedOut => "timeout",
        _ => "connector_error",
    };
}
