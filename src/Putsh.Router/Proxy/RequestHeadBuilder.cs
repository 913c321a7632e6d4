using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Putsh.Protocol.Headers;

namespace Putsh.Router.Proxy;

/// <summary>
/// Turns a client request into the Cranker request head (§2.1) with the router's header rules (§2.3, in
/// <see cref="RequestHeaderRules"/>): hop-by-hop and <c>Connection</c>-named headers removed, <c>Expect</c> answered
/// here, cookies merged into one line, exactly one <c>via</c>, a rebuilt <c>forwarded</c>, and optionally the legacy
/// <c>x-forwarded-*</c>.
/// </summary>
internal static class RequestHeadBuilder
{
    /// <summary>The request target exactly as the client sent it: still percent-encoded, no fragment.</summary>
    public static string RawTarget(HttpContext context)
    {
        var raw = context.Features.Get<IHttpRequestFeature>()?.RawTarget;
        if (!string.IsNullOrEmpty(raw) && raw[0] == '/')
        {
            return raw;
        }

        // Absolute-form targets (proxy-style requests) and anything odd: rebuild from the parsed parts.
        var path = context.Request.PathBase.Add(context.Request.Path).ToUriComponent();
        return (path.Length == 0 ? "/" : path) + context.Request.QueryString.ToUriComponent();
    }

    /// <summary>Builds the head text, ending with <paramref name="v1Marker"/> when given.</summary>
    /// <remarks>
    /// A <paramref name="webSocket"/> head (the putsh websocket extension) is a GET that keeps <c>upgrade: websocket</c>
    /// and <c>connection: Upgrade</c> and the <c>sec-websocket-protocol</c> and <c>sec-websocket-version</c> headers,
    /// without <c>sec-websocket-key</c> and <c>sec-websocket-extensions</c> (each hop makes its own handshake).
    /// <para>With <paramref name="trailers"/> (the <c>trailers</c> extension agreed), a <c>te</c> that asks for trailers
    /// goes on as <c>te: trailers</c>.</para>
    /// </remarks>
    public static string Build(HttpContext context, RouterOptions options, string? v1Marker, bool webSocket = false, bool trailers = false)
    {
        var request = context.Request;
        var head = HeadText.ForRequest(webSocket ? "GET" : request.Method, RawTarget(context));
        var headers = request.Headers;
        // Kestrel shortens "keep-alive, x-hop" to "keep-alive"; the value as sent, where it was kept, names x-hop too.
        var connection = context.Features.Get<Hosting.RawConnectionHeaderFeature>() is { } raw ? raw.Value : HeaderRules.CombineLines(headers.Connection);

        // With a router span, the connector gets its context in place of the client's (docs/tracing.md).
        var span = Observability.RouterTracing.Current;
        foreach (var (name, values) in headers)
        {
            if (trailers && RequestHeaderRules.IsTeTrailers(name, values))
            {
                head.Add("te", "trailers");
                continue;
            }

            if (RequestHeaderRules.IsDroppedByRouter(name, connection, traced: span is not null, keepHost: options.ProxyHostHeader, webSocket))
            {
                continue;
            }

            if (RequestHeaderRules.IsCookie(name))
            {
                RequestHeaderRules.AddCookie(head, values);
                continue;
            }

            foreach (var value in values)
            {
                head.Add(name, value);
            }
        }

        if (webSocket)
        {
            RequestHeaderRules.AddWebSocketUpgrade(head);
        }

        if (span is not null)
        {
            DistributedContextPropagator.Current.Inject(span, head, static (carrier, name, value) => ((HeadText)carrier!).Add(name, value));
        }

        // Values below are formatted into this buffer rather than into strings of their own; anything longer falls
        // back to the string forms, which give the same text.
        Span<char> buffer = stackalloc char[256];
        RequestHeaderRules.AddVia(head, headers.Via, request.Protocol, options.ViaName, buffer);

        // Forwarded (§2.3 point 3): prior elements unless discarded, then ours.
        List<ForwardedElement>? prior = null;
        if (!options.DiscardClientForwardedHeaders && options.IsTrustedProxy(context.Connection.RemoteIpAddress))
        {
            if (headers.TryGetValue("Forwarded", out var forwarded))
            {
                prior = ForwardedElement.Parse(forwarded);
            }
            else if (options.SendLegacyForwardedHeaders || !TryAddLegacyElement(head, headers, buffer))
            {
                // Several elements, or their values are needed again below: build them.
                prior = ForwardedElement.FromLegacy(headers["X-Forwarded-For"], headers["X-Forwarded-Host"], headers["X-Forwarded-Port"], headers["X-Forwarded-Proto"]);
            }

            if (prior is not null)
            {
                foreach (var element in prior)
                {
                    if (element.TryFormat(buffer, out var n))
                    {
                        head.Add("forwarded", buffer[..n]);
                    }
                    else
                    {
                        head.Add("forwarded", element.ToString());
                    }
                }
            }
        }

        var local = context.Connection.LocalIpAddress;
        var remote = context.Connection.RemoteIpAddress;
        var host = request.Host.HasValue ? request.Host.Value : null;
        var scheme = request.Scheme;
        if (ForwardedElement.TryFormat(buffer, out var oursLength, local, remote, host, scheme))
        {
            head.Add("forwarded", buffer[..oursLength]);
        }
        else
        {
            head.Add("forwarded", new ForwardedElement(FormatAddress(local), FormatAddress(remote), host, scheme).ToString());
        }

        if (options.SendLegacyForwardedHeaders)
        {
            if (prior is { Count: > 0 })
            {
                AddLegacyForwarded(head, prior[0].Proto, prior[0].Host, prior[0].For);
            }
            else
            {
                // Our own element: the same values as in its forwarded text.
                AddLegacyForwarded(head, scheme, host, null);
                if (remote is not null)
                {
                    if (ForwardedElement.TryFormatNode(remote, buffer, out var n))
                    {
                        head.Add("x-forwarded-for", buffer[..n]);
                    }
                    else
                    {
                        head.Add("x-forwarded-for", FormatAddress(remote));
                    }
                }
            }
        }

        return head.ToRequestString(v1Marker);
    }

    /// <summary>
    /// The usual case of legacy headers from one proxy in front (no commas): their one element written straight into
    /// the head. False when there are several, for <see cref="ForwardedElement.FromLegacy"/> to build.
    /// </summary>
    private static bool TryAddLegacyElement(HeadText head, IHeaderDictionary headers, Span<char> buffer)
    {
        if (!ForwardedElement.TryFormatLegacy(buffer, headers["X-Forwarded-For"], headers["X-Forwarded-Host"], headers["X-Forwarded-Port"], headers["X-Forwarded-Proto"], out var n, out var hasElement))
        {
            return false;
        }

        if (hasElement)
        {
            head.Add("forwarded", buffer[..n]);
        }

        return true;
    }

    private static void AddLegacyForwarded(HeadText head, string? proto, string? host, string? @for)
    {
        if (proto is not null)
        {
            head.Add("x-forwarded-proto", proto);
        }

        if (host is not null)
        {
            head.Add("x-forwarded-host", host);
        }

        if (@for is not null)
        {
            head.Add("x-forwarded-for", @for);
        }
    }

    /// <summary>IPv4 as dotted quad (IPv4-mapped IPv6 unwrapped); IPv6 in brackets as RFC 7239 §6 asks.</summary>
    internal static string? FormatAddress(IPAddress? address)
    {
        if (address is null)
        {
            return null;
        }

        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }

        return address.AddressFamily == AddressFamily.InterNetworkV6 ? "[" + address + "]" : address.ToString();
    }
}
