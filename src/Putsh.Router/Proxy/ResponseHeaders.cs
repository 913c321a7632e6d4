using Microsoft.AspNetCore.Http;
using Putsh.Protocol.Headers;

namespace Putsh.Router.Proxy;

/// <summary>The router's response header rules (§2.5, in <see cref="ResponseHeaderRules"/>), shared by both protocol versions.</summary>
internal static class ResponseHeaders
{
    /// <summary>
    /// Hop-by-hop, those the connector's own <c>Connection</c> header names (RFC 9110 §7.6.1) and <c>server</c>
    /// dropped; the target's <c>date</c> kept (Kestrel then adds none); <c>content-length</c> passed through; each
    /// <c>set-cookie</c> its own line.
    /// </summary>
    public static void Apply(HttpResponse response, int status, List<KeyValuePair<string, string>> headers)
    {
        response.StatusCode = status;
        var connection = HeaderRules.ConnectionOf(headers);
        foreach (var (name, value) in headers)
        {
            if (ResponseHeaderRules.IsDroppedByRouter(name, connection))
            {
                continue;
            }

            if (HeaderRules.IsContentLength(name))
            {
                if (HeaderRules.TryParseContentLength(value, out var length))
                {
                    response.ContentLength = length;
                }

                continue;
            }

            response.Headers.Append(name, value);
        }
    }
}
