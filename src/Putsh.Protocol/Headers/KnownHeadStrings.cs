using System.Collections.Frozen;

namespace Putsh.Protocol.Headers;

/// <summary>
/// One shared string for each common header name and request method, so that parsing a head does not allocate a new
/// copy of <c>content-type</c> for every request (Kestrel keeps such a table for the same reason). Matching is
/// exact (ordinal): a name keeps the sender's spelling, and a spelling not in the table is simply allocated.
/// </summary>
internal static class KnownHeadStrings
{
    // Lowercase (HTTP/2 clients, mu, our own heads); each also goes in as Title-Case (HTTP/1.1 clients, HttpClient).
    private static readonly string[] s_lowercaseNames =
    [
        "accept", "accept-charset", "accept-encoding", "accept-language", "accept-ranges",
        "access-control-allow-credentials", "access-control-allow-headers", "access-control-allow-methods",
        "access-control-allow-origin", "access-control-expose-headers", "access-control-max-age",
        "access-control-request-headers", "access-control-request-method", "age", "allow", "alt-svc", "authorization",
        "baggage", "cache-control", "connection", "content-disposition", "content-encoding", "content-language",
        "content-length", "content-location", "content-range", "content-security-policy", "content-type", "cookie",
        "date", "dnt", "etag", "expect", "expires", "forwarded", "host", "if-match", "if-modified-since",
        "if-none-match", "if-range", "if-unmodified-since", "keep-alive", "last-modified", "link", "location",
        "origin", "pragma", "priority", "proxy-authenticate", "proxy-authorization", "range", "referer",
        "referrer-policy", "request-id", "retry-after", "sec-ch-ua", "sec-ch-ua-mobile", "sec-ch-ua-platform",
        "sec-fetch-dest", "sec-fetch-mode", "sec-fetch-site", "sec-fetch-user", "sec-websocket-accept",
        "sec-websocket-extensions", "sec-websocket-key", "sec-websocket-protocol", "sec-websocket-version", "server",
        "set-cookie", "strict-transport-security", "te", "traceparent", "tracestate", "trailer", "transfer-encoding",
        "upgrade", "upgrade-insecure-requests", "user-agent", "vary", "via", "warning", "www-authenticate",
        "x-content-type-options", "x-correlation-id", "x-forwarded-for", "x-forwarded-host", "x-forwarded-port",
        "x-forwarded-proto", "x-frame-options", "x-powered-by", "x-request-id", "x-requested-with", "x-xss-protection",
    ];

    // Spellings that Title-Casing does not produce, and the request methods.
    private static readonly string[] s_others =
    [
        "ETag", "WWW-Authenticate", "DNT", "TE", "X-Request-ID", "X-XSS-Protection",
        "GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "TRACE", "CONNECT",
    ];

    private static readonly FrozenSet<string> s_strings = Build();

    private static readonly FrozenSet<string>.AlternateLookup<ReadOnlySpan<char>> s_lookup =
        s_strings.GetAlternateLookup<ReadOnlySpan<char>>();

    /// <summary>The shared string equal to <paramref name="value"/> when there is one, else a new string.</summary>
    public static string Get(ReadOnlySpan<char> value) =>
        s_lookup.TryGetValue(value, out var known) ? known : value.ToString();

    /// <summary>The shared string equal to <paramref name="value"/>, or null when it is not a common one.</summary>
    public static string? Find(ReadOnlySpan<char> value) =>
        s_lookup.TryGetValue(value, out var known) ? known : null;

    private static FrozenSet<string> Build()
    {
        var all = new HashSet<string>(StringComparer.Ordinal);
        foreach (var name in s_lowercaseNames)
        {
            all.Add(name);
            all.Add(string.Create(name.Length, name, static (span, source) =>
            {
                for (var i = 0; i < source.Length; i++)
                {
                    span[i] = i == 0 || source[i - 1] == '-' ? char.ToUpperInvariant(source[i]) : source[i];
                }
            }));
        }

        all.UnionWith(s_others);
        return all.ToFrozenSet(StringComparer.Ordinal);
    }
}
