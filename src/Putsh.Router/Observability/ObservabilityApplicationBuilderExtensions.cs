using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Putsh.Router.Observability;

// In ASP.NET Core's own namespace, so that an app needs no extra using to find them.
namespace Microsoft.AspNetCore.Builder;

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
        var dark = app.ApplicationServices.GetRequiredService<Putsh.Router.Routing.RouteTable>().Dark;
        return app.Use(async (context, next) =>
        {
            var path = context.Request.Path.Value ?? "";
            if (!path.StartsWith("/api/", StringComparison.Ordinal))
            {
                await next(context);
                return;
            }

            context.Response.Headers.CacheControl = "no-store";
            if (path.StartsWith(DarkModeApi.Prefix, StringComparison.Ordinal))
            {
                await DarkModeApi.HandleAsync(context, path, dark);
                return;
            }
            if (!HttpMethods.IsGet(context.Request.Method) && !HttpMethods.IsHead(context.Request.Method))
            {
                context.Response.StatusCode = StatusCodes.Status405MethodNotAllowed;
                context.Response.Headers.Allow = "GET, HEAD";
                await context.Response.WriteAsJsonAsync(new StateError("The state API is read-only: GET only (but for /api/dark-mode)."), StateJsonContext.Default.StateError);
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

/// <summary>Serves the dashboard on an application branch (the executable's admin listener).</summary>
public static class PutshDashboardExtensions
{
    /// <summary>
    /// Answers <c>GET /</c> and <c>GET /index.html</c> with the dashboard page (docs/dashboard.md), which reads
    /// <c>/api/routes</c> from the same origin: use it together with <see cref="PutshStateApiExtensions.UsePutshStateApi"/>,
    /// and only where operators, not clients, reach. Other requests go on down the pipeline.
    /// </summary>
    public static IApplicationBuilder UsePutshDashboard(this IApplicationBuilder app)
    {
        ArgumentNullException.ThrowIfNull(app);
        return app.Use(async (context, next) =>
        {
            var path = context.Request.Path.Value;
            if (path is not ("/" or "" or "/index.html")
                || !(HttpMethods.IsGet(context.Request.Method) || HttpMethods.IsHead(context.Request.Method)))
            {
                await next(context);
                return;
            }

            var page = Dashboard.Html;
            var response = context.Response;
            response.ContentType = "text/html; charset=utf-8";
            response.ContentLength = page.Length;
            response.Headers.CacheControl = "no-store";
            response.Headers.ContentSecurityPolicy = Dashboard.ContentSecurityPolicy;
            response.Headers.XContentTypeOptions = "nosniff";
            response.Headers["Referrer-Policy"] = "no-referrer";
            if (HttpMethods.IsGet(context.Request.Method))
            {
                await response.Body.WriteAsync(page, context.RequestAborted);
            }
        });
    }
}
