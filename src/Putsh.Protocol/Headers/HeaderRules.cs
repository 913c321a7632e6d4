using System.Collections.Frozen;
using System.Net.Http.Headers;

namespace Putsh.Protocol.Headers;

/// <summary>
/// The header rules both directions share, used alike by the router and the connector: which fields belong to one
/// hop, how the <c>Connection</c> field is read, and how <c>content-length</c> is read. The rules of each direction
/// are <see cref="RequestHeaderRules"/> and <see cref="ResponseHeaderRules"/>.
/// </summary>
/// <remarks>
/// A message's <c>Connection</c> field is passed to the rules as one value, its lines combined with <c>, </c>
/// (<see cref="ConnectionOf(IReadOnlyList{KeyValuePair{string, string}})"/> and its overloads): one line, the usual case, is
/// passed as it is, without allocating.
/// </remarks>
internal static class HeaderRules
{
    // mu-cranker-router's set (§2.3) plus the names YARP also treats as connection-specific.
    private static readonly FrozenSet<string> s_hopByHop = FrozenSet.Create(
        StringComparer.OrdinalIgnoreCase,
        "connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade",
        "proxy-authorization", "proxy-authenticate", "proxy-connection", "http2-settings");

    /// <summary>
    /// True for the fields that are hop-by-hop on their own (RFC 9110 §7.6.1; docs/protocol.md §2.3 and §2.5):
    /// <c>connection</c>, <c>keep-alive</c>, <c>transfer-encoding</c>, <c>te</c>, <c>trailer</c>, <c>upgrade</c>,
    /// <c>proxy-authorization</c>, <c>proxy-authenticate</c>, <c>proxy-connection</c> and <c>http2-settings</c>.
    /// </summary>
    public static bool IsHopByHop(string name) => s_hopByHop.Contains(name);

    /// <summary>
    /// True when <paramref name="name"/> is one of the comma-separated tokens of <paramref name="connection"/> (trimmed,
    /// compared ignoring case): a field the sender made hop-by-hop by naming it in <c>Connection</c> (RFC 9110 §7.6.1).
    /// Splits nothing into strings.
    /// </summary>
    public static bool IsNominated(ReadOnlySpan<char> name, ReadOnlySpan<char> connection)
    {
        if (name.IsEmpty || name.Length > connection.Length)
        {
            return false;
        }

        foreach (var range in connection.Split(','))
        {
            if (connection[range].Trim().Equals(name, StringComparison.OrdinalIgnoreCase))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>
    /// True when <paramref name="name"/> ends at this hop (RFC 9110 §7.6.1): hop-by-hop (<see cref="IsHopByHop"/>), or
    /// named in the message's <paramref name="connection"/> field (<see cref="IsNominated"/>). The one test the router
    /// and the connector make, on requests and on responses.
    /// </summary>
    public static bool IsDroppedAtHop(string name, ReadOnlySpan<char> connection) =>
        IsHopByHop(name) || IsNominated(name, connection);

    /// <summary>True for <c>connection</c> (RFC 9110 §7.6.1).</summary>
    public static bool IsConnection(string name) => name.Equals("connection", StringComparison.OrdinalIgnoreCase);

    /// <summary>
    /// The <c>Connection</c> field of a head (§2.1, §2.2): its one line, or its lines combined with <c>, </c>
    /// (RFC 9110 §5.3); null when there is none.
    /// </summary>
    public static string? ConnectionOf(IReadOnlyList<KeyValuePair<string, string>> headers)
    {
        ArgumentNullException.ThrowIfNull(headers);
        string? connection = null;
        // Indexed, so that a list passed as the interface is read without an enumerator.
        for (var i = 0; i < headers.Count; i++)
        {
            var (name, value) = headers[i];
            if (IsConnection(name))
            {
                connection = connection is null ? value : connection + ", " + value;
            }
        }

        return connection;
    }

    /// <summary>The <c>Connection</c> field of an HttpClient message's headers, as <see cref="ConnectionOf(IReadOnlyList{KeyValuePair{string, string}})"/>.</summary>
    public static string? ConnectionOf(HttpHeadersNonValidated headers)
    {
        if (!headers.TryGetValues("Connection", out var values))
        {
            return null;
        }

        if (values.Count == 1)
        {
            foreach (var value in values)
            {
                return value;
            }
        }

        return string.Join(", ", values);
    }

    /// <summary>
    /// The lines of one field combined with <c>, </c> (RFC 9110 §5.3), a null line read as empty: the one line itself
    /// when there is one, null when there is none. Generic so that a struct collection (ASP.NET Core's
    /// <c>StringValues</c>) is read in place, not boxed.
    /// </summary>
    public static string? CombineLines<TLines>(TLines lines)
        where TLines : IReadOnlyList<string?> =>
        lines.Count switch
        {
            0 => null,
            1 => lines[0],
            _ => Join(lines, ", "),
        };

    /// <summary>True for <c>content-length</c> (RFC 9110 §8.6).</summary>
    public static bool IsContentLength(string name) => name.Equals("content-length", StringComparison.OrdinalIgnoreCase);

    /// <summary>
    /// Reads a <c>content-length</c> value (RFC 9110 §8.6): a non-negative number. False for anything else, which is
    /// then dropped, and the body's length left to the framing (chunked, §2.4 and §2.6).
    /// </summary>
    public static bool TryParseContentLength(string? value, out long length) => long.TryParse(value, out length) && length >= 0;

    /// <summary>
    /// True when <paramref name="value"/> holds no CR or LF (RFC 9110 §5.5), so that it cannot end its line early and
    /// split one head, or one handshake, into two (§2.1, §2.2).
    /// </summary>
    public static bool IsSafeValue(ReadOnlySpan<char> value) => value.IndexOfAny('\r', '\n') < 0;

    /// <summary>What <c>string.Join(separator, lines)</c> gives, without copying the lines into an array first.</summary>
    internal static string Join<TLines>(TLines lines, string separator)
        where TLines : IReadOnlyList<string?>
    {
        var count = lines.Count;
        var length = count > 1 ? (count - 1) * separator.Length : 0;
        for (var i = 0; i < count; i++)
        {
            length += lines[i]?.Length ?? 0;
        }

        return string.Create(length, (lines, separator), static (span, state) =>
        {
            var (lines, separator) = state;
            var at = 0;
            for (var i = 0; i < lines.Count; i++)
            {
                if (i > 0)
                {
                    separator.CopyTo(span[at..]);
                    at += separator.Length;
                }

                if (lines[i] is { } line)
                {
                    line.CopyTo(span[at..]);
                    at += line.Length;
                }
            }
        });
    }
}
