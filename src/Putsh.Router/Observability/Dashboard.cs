using System.Security.Cryptography;
using System.Text;

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
