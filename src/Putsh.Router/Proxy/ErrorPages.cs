using System.Net;
using System.Text;
using Microsoft.AspNetCore.Http;

namespace Putsh.Router.Proxy;

/// <summary>The small HTML pages the router answers with itself (§3.5), in mu's template.</summary>
internal static class ErrorPages
{
    public static Task WriteAsync(HttpContext context, int status, string title, string message)
    {
        if (context.Response.HasStarted)
        {
            context.Abort();
            return Task.CompletedTask;
        }

        context.Response.Clear();
        context.Response.StatusCode = status;
        context.Response.ContentType = "text/html;charset=utf-8";
        var t = WebUtility.HtmlEncode(title);
        var body = Encoding.UTF8.GetBytes($"<html><head><title>{t}</title></head><body><h1>{t}</h1><p>{message}</p></body></html>");
        context.Response.ContentLength = body.Length;
        return context.Response.Body.WriteAsync(body, 0, body.Length, context.RequestAborted);
    }

    public static Task NotFound(HttpContext context) => WriteAsync(context, 404, "404 Not Found", "Page not found");

    public static Task NoSocket(HttpContext context, TimeSpan wait) =>
        WriteAsync(context, 503, "503 Service Unavailable", $"No cranker connectors available within {(long)wait.TotalMilliseconds} ms");

    public static Task BadGateway(HttpContext context, string route) =>
        WriteAsync(context, 502, "502 Bad Gateway", $"The <code>{WebUtility.HtmlEncode(route)}</code> service error.");

    public static Task NoWebSocketConnector(HttpContext context, string route) =>
        WriteAsync(context, 502, "502 Bad Gateway", $"The connectors of the <code>{WebUtility.HtmlEncode(route)}</code> route do not support WebSockets.");

    public static Task GatewayTimeout(HttpContext context, string route) =>
        WriteAsync(context, 504, "504 Gateway Timeout", $"The <code>{WebUtility.HtmlEncode(route)}</code> service did not respond in time.");

    public static Task MethodNotAllowed(HttpContext context) =>
        WriteAsync(context, 405, "405 Method Not Allowed", "Method not supported");
}
