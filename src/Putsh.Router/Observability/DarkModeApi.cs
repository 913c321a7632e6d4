using Microsoft.AspNetCore.Http;
using Putsh.Router.Routing;

namespace Putsh.Router.Observability;

/// <summary>
/// Dark mode on the admin listener (docs/state-api.md): <c>GET /api/dark-mode</c> lists what is dark;
/// <c>PUT</c> and <c>DELETE</c> on <c>/api/dark-mode/instances/{instanceId}</c> or <c>/api/dark-mode/routes/{route}</c>
/// take a connector instance or a route out of rotation and put it back. Each answers with the resulting lists.
/// </summary>
internal static class DarkModeApi
{
    public const string Prefix = "/api/dark-mode";

    public static async Task HandleAsync(HttpContext context, string path, DarkMode dark)
    {
        var method = context.Request.Method;
        var rest = path[Prefix.Length..].Trim('/');
        if (rest.Length == 0)
        {
            if (!HttpMethods.IsGet(method) && !HttpMethods.IsHead(method))
            {
                await RefuseAsync(context, StatusCodes.Status405MethodNotAllowed, "GET /api/dark-mode lists; PUT or DELETE /api/dark-mode/instances/{id} or /api/dark-mode/routes/{route} changes.", "GET, HEAD");
                return;
            }

            await WriteAsync(context, dark);
            return;
        }

        var slash = rest.IndexOf('/', StringComparison.Ordinal);
        var kind = slash < 0 ? rest : rest[..slash];
        var name = slash < 0 ? "" : Uri.UnescapeDataString(rest[(slash + 1)..]);
        if (kind is not ("instances" or "routes") || name.Length == 0)
        {
            await RefuseAsync(context, StatusCodes.Status404NotFound, "Not found: use /api/dark-mode/instances/{instanceId} or /api/dark-mode/routes/{route}.", allow: null);
            return;
        }

        var on = HttpMethods.IsPut(method);
        if (!on && !HttpMethods.IsDelete(method))
        {
            await RefuseAsync(context, StatusCodes.Status405MethodNotAllowed, "PUT turns dark mode on, DELETE turns it off.", "PUT, DELETE");
            return;
        }

        _ = kind == "instances" ? dark.SetInstance(name, on) : dark.SetRoute(name, on);
        await WriteAsync(context, dark);
    }

    private static Task WriteAsync(HttpContext context, DarkMode dark) =>
        context.Response.WriteAsJsonAsync(
            new DarkModeState([.. dark.Instances.Order(StringComparer.Ordinal)], [.. dark.Routes.Order(StringComparer.Ordinal)]),
            StateJsonContext.Default.DarkModeState);

    private static Task RefuseAsync(HttpContext context, int status, string message, string? allow)
    {
        context.Response.StatusCode = status;
        if (allow is not null)
        {
            context.Response.Headers.Allow = allow;
        }

        return context.Response.WriteAsJsonAsync(new StateError(message), StateJsonContext.Default.StateError);
    }
}
