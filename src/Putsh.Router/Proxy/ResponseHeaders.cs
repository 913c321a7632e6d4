using Microsoft.AspNetCore.Http;
using Putsh.Protocol.Headers;

namespace Putsh.Router.Proxy;

/// <summary>The router's response header rules (§2.5), shared by both protocol versions.</summary>
internal static class ResponseHeaders
{
    /// <summary>
    /// Hop-by-hop and <c>server</c> dropped; the target's <c>date</c> kept (Kestrel then adds none);
    /// <c>content-length</c> passed through; each <c>set-cookie</c> its own line.
    /// </summary>
    public static void Apply(HttpResponse response, int status, List<KeyValuePair<string, string>> headers)
    {
        response.StatusCode = status;
        foreach (var (name, value) in headers)
        {
            if (HopByHopHeaders.IsHopByHop(name) || name.Equals("server", StringComparison.OrdinalIgnoreCase))
            {
                continue;
            }

            if (name.Equals("content-length", StringComparison.OrdinalIgnoreCase))
            {
                if (long.TryParse(value, out var length) && length >= 0)
                {
                    response.ContentLength = length;
                }

                continue;
            }

            response.Headers.Append(name, value);
        }
    }
}
