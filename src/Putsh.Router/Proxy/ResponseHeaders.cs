using Microsoft.AspNetCore.Http;
using Putsh.Protocol.Headers;

namespace Putsh.Router.Proxy;

/// <summary>The router's response header rules (§2.5), shared by both protocol versions.</summary>
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
        var hasConnection = false;
        foreach (var (name, _) in headers)
        {
            if (name.Equals("connection", StringComparison.OrdinalIgnoreCase))
            {
                hasConnection = true;
                break;
            }
        }

        foreach (var (name, value) in headers)
        {
            if (HopByHopHeaders.IsHopByHop(name) || name.Equals("server", StringComparison.OrdinalIgnoreCase)
                || (hasConnection && IsNominated(headers, name)))
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

    private static bool IsNominated(List<KeyValuePair<string, string>> headers, string name)
    {
        foreach (var (header, value) in headers)
        {
            if (header.Equals("connection", StringComparison.OrdinalIgnoreCase) && HopByHopHeaders.IsNominated(value, name))
            {
                return true;
            }
        }

        return false;
    }
}
