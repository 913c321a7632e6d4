using System.Collections.Frozen;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Primitives;
using Putsh.Protocol.Headers;
using Putsh.Router;
using Putsh.Router.Proxy;

namespace Putsh.Benchmarks.Legacy;

/// <summary><c>RequestHeadBuilder.Build</c> as it was at commit 18e6c7f, for the "before" column. Nothing in the product calls it.</summary>
internal static class LegacyRequestHeadBuilder
{
    private static readonly FrozenSet<string> s_regenerated = FrozenSet.Create(
        StringComparer.OrdinalIgnoreCase,
        "expect", "forwarded", "x-forwarded-by", "x-forwarded-for", "x-forwarded-host", "x-forwarded-proto",
        "x-forwarded-port", "x-forwarded-server", "via");

    public static string Build(HttpContext context, RouterOptions options, string? v1Marker, bool webSocket = false)
    {
        var request = context.Request;
        var head = HeadText.ForRequest(webSocket ? "GET" : request.Method, RequestHeadBuilder.RawTarget(context));
        var headers = request.Headers;
        var connectionTokens = HopByHopHeaders.ParseConnectionTokens(headers.Connection);

        foreach (var (name, values) in headers)
        {
            if (name.Length == 0 || name[0] == ':'
                || HopByHopHeaders.ShouldSkip(name, connectionTokens)
                || s_regenerated.Contains(name)
                || (webSocket && (name.Equals("sec-websocket-key", StringComparison.OrdinalIgnoreCase) || name.Equals("sec-websocket-extensions", StringComparison.OrdinalIgnoreCase)))
                || (!options.ProxyHostHeader && name.Equals("host", StringComparison.OrdinalIgnoreCase)))
            {
                continue;
            }

            if (name.Equals("cookie", StringComparison.OrdinalIgnoreCase))
            {
                // HTTP/2 clients split cookies into crumbs; the target sees one line (§2.3 point 1).
                head.Add("cookie", values.Count == 1 ? values[0] : string.Join("; ", values.ToArray()));
                continue;
            }

            foreach (var value in values)
            {
                head.Add(name, value);
            }
        }

        if (webSocket)
        {
            head.Add("upgrade", "websocket");
            head.Add("connection", "Upgrade");
        }

        // Exactly one via (§2.3 point 2): prior values, then ours.
        var ourVia = request.Protocol + " " + options.ViaName;
        var priorVia = headers.Via;
        head.Add("via", StringValues.IsNullOrEmpty(priorVia) ? ourVia : string.Join(", ", priorVia.ToArray()) + ", " + ourVia);

        // Forwarded (§2.3 point 3): prior elements unless discarded, then ours.
        List<ForwardedElement>? prior = null;
        if (!options.DiscardClientForwardedHeaders)
        {
            prior = headers.TryGetValue("Forwarded", out var forwarded)
                ? ForwardedElement.Parse(forwarded)
                : ForwardedElement.FromLegacy(headers["X-Forwarded-For"], headers["X-Forwarded-Host"], headers["X-Forwarded-Port"], headers["X-Forwarded-Proto"]);
            foreach (var element in prior)
            {
                head.Add("forwarded", LegacyCodecs.ForwardedToString(element));
            }
        }

        var ours = new ForwardedElement(
            RequestHeadBuilder.FormatAddress(context.Connection.LocalIpAddress),
            RequestHeadBuilder.FormatAddress(context.Connection.RemoteIpAddress),
            request.Host.HasValue ? request.Host.Value : null,
            request.Scheme);
        head.Add("forwarded", LegacyCodecs.ForwardedToString(ours));

        if (options.SendLegacyForwardedHeaders)
        {
            var first = prior is { Count: > 0 } ? prior[0] : ours;
            if (first.Proto is not null)
            {
                head.Add("x-forwarded-proto", first.Proto);
            }

            if (first.Host is not null)
            {
                head.Add("x-forwarded-host", first.Host);
            }

            if (first.For is not null)
            {
                head.Add("x-forwarded-for", first.For);
            }
        }

        return head.ToRequestString(v1Marker);
    }
}
