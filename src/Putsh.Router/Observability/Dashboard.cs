using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Putsh.Router.Observability;

/// <summary>
/// The live dashboard (docs/dashboard.md): one self-contained HTML page, embedded in this assembly, that polls
/// <c>GET /api/routes</c> every second and shows each route's connectors and its rates.
/// </summary>
internal static class Dashboard
{
    /// <summary>The manifest name of the page (see the EmbeddedResource item in the project file).</summary>
    public const string ResourceName = "Putsh.Router.Observability.dashboard.html";

    private static readonly Lazy<(byte[] Html, string Policy)> Page = new(Load);

    /// <summary>The page's bytes, read from the assembly once.</summary>
    public static ReadOnlyMemory<byte> Html => Page.Value.Html;

    /// <summary>
    /// What the page may do: run its own inline script and style (named by their SHA-256, so no other inline code runs,
    /// <c>'unsafe-inline'</c> is never needed), fetch from its own origin, and nothing else: no other origin, no frames,
    /// no forms, no plugins.
    /// </summary>
    public static string ContentSecurityPolicy => Page.Value.Policy;

    private static (byte[] Html, string Policy) Load()
    {
        using var stream = typeof(Dashboard).Assembly.GetManifestResourceStream(ResourceName)
            ?? throw new InvalidOperationException($"The dashboard page '{ResourceName}' is missing from {typeof(Dashboard).Assembly.GetName().Name}.");
        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        var html = copy.ToArray();
        var text = Encoding.UTF8.GetString(html);
        var policy = $"default-src 'none'; script-src {Hash(text, "script")}; style-src {Hash(text, "style")}; connect-src 'self'; "
            + "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";
        return (html, policy);
    }

    /// <summary>The CSP source for the page's one inline <c>&lt;script&gt;</c> or <c>&lt;style&gt;</c> element: its text's SHA-256.</summary>
    private static string Hash(string html, string element)
    {
        var open = html.IndexOf($"<{element}>", StringComparison.Ordinal);
        var close = html.IndexOf($"</{element}>", StringComparison.Ordinal);
        if (open < 0 || close < open || html.IndexOf($"<{element}>", open + 1, StringComparison.Ordinal) >= 0)
        {
            throw new InvalidOperationException($"The dashboard page must have exactly one inline <{element}> element.");
        }

        var body = html[(open + element.Length + 2)..close];
        return $"'sha256-{Convert.ToBase64String(SHA256.HashData(Encoding.UTF8.GetBytes(body)))}'";
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
