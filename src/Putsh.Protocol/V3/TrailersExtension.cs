using System.Text;
using Putsh.Protocol.Headers;

namespace Putsh.Protocol.V3;

/// <summary>
/// The putsh <c>trailers</c> extension (docs/protocol.md §12.8): on a cranker_3.0 socket whose two ends agreed it, a
/// message body may end with a trailer section instead of an empty DATA with END_STREAM. The section travels exactly
/// as a head does (§5.3): HEADER messages cut at 16000 characters, END_HEADER on the last, and END_STREAM on the last
/// only, since a trailer section always ends its direction of the stream. A HEADER that arrives on a stream after that
/// direction's head is complete is its trailer section. The text is header lines, <c>name:value</c> each ended by LF,
/// with no start line; names are written in lower case.
/// </summary>
internal static class TrailersExtension
{
    public const string Name = "trailers";

    /// <summary>True when comma-separated <c>Putsh-Extensions</c> values name the extension.</summary>
    public static bool IsNamed(IEnumerable<string?> values) => WsFrame.Names(values, Name);

    /// <summary>
    /// Appends one field to a trailer section's text: a line <c>name:value</c> with the name in lower case. A field
    /// that may not be a trailer (<see cref="MayBeTrailer"/>), or a value holding CR or LF, is left out (false). A
    /// section left empty is not sent: the body then ends as §5.4 says.
    /// </summary>
    public static bool TryAppend(StringBuilder text, string name, string? value)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentNullException.ThrowIfNull(name);
        if (value is null || !MayBeTrailer(name) || value.AsSpan().IndexOfAny('\r', '\n') >= 0)
        {
            return false;
        }

        text.Append(name.ToLowerInvariant()).Append(':').Append(value).Append('\n');
        return true;
    }

    /// <summary>
    /// Reads a trailer section's text into <paramref name="fields"/>, leaving out lines without a name (as heads are
    /// read, §2.2) and fields that may not be trailers. Never fails: a trailer section carries no framing.
    /// </summary>
    public static void Read(ReadOnlySpan<char> text, List<KeyValuePair<string, string>> fields)
    {
        ArgumentNullException.ThrowIfNull(fields);
        foreach (var line in HeadParser.EnumerateHeaders(text))
        {
            var name = line.Name.ToString();
            if (MayBeTrailer(name))
            {
                fields.Add(new(name.ToLowerInvariant(), line.Value.ToString()));
            }
        }
    }

    /// <summary>
    /// False for the fields a sender must not put in a trailer section and a receiver must not act on there
    /// (RFC 9110 §6.5.1): framing, routing, authentication, request modifiers, content description and control data,
    /// plus the hop-by-hop fields and HTTP/2 pseudo-headers, none of which mean anything after the body.
    /// </summary>
    public static bool MayBeTrailer(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (name.Length == 0 || name[0] == ':' || HopByHopHeaders.IsHopByHop(name))
        {
            return false;
        }

        return !Forbidden.Contains(name);
    }

    private static readonly HashSet<string> Forbidden = new(StringComparer.OrdinalIgnoreCase)
    {
        "content-length", "content-encoding", "content-type", "content-range", "trailer", "transfer-encoding",
        "host", "authorization", "proxy-authorization", "proxy-authenticate", "www-authenticate", "set-cookie", "cookie",
        "cache-control", "expect", "max-forwards", "pragma", "range", "te", "age", "expires", "date", "location",
        "retry-after", "vary", "warning",
    };
}
