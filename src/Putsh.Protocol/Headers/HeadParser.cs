using Putsh.Protocol.V1;

namespace Putsh.Protocol.Headers;

/// <summary>A parsed request head, as the connector reads it (§2.1, §4.2).</summary>
internal sealed class ParsedRequestHead
{
    public required string Method { get; init; }

    /// <summary>The raw request target: percent-encoded path and query, as the client sent it.</summary>
    public required string Target { get; init; }

    public required List<KeyValuePair<string, string>> Headers { get; init; }

    /// <summary>The v1 end marker (<c>_1</c> or <c>_2</c>), or null when the text carried none (v3).</summary>
    public string? Marker { get; init; }
}

/// <summary>
/// Lenient readers for Cranker heads: they accept LF or CRLF, <c>name:value</c> or <c>Name: value</c>, and a
/// missing trailing blank line, because other implementations send all of these (§2.2, §10).
/// </summary>
/// <remarks>
/// The span readers (<see cref="TryReadRequest"/>, <see cref="TryReadResponse"/>,
/// <see cref="EnumerateHeaders"/>) work in place and never allocate; the string readers are built on them and
/// allocate only what they return (common names and methods come from <see cref="KnownHeadStrings"/>).
/// </remarks>
internal static class HeadParser
{
    /// <summary>Reads a request head; with <paramref name="expectMarker"/> the last line must be a v1 marker.</summary>
    public static bool TryParseRequest(string text, bool expectMarker, out ParsedRequestHead? head, out string? error) =>
        TryParseRequest(text.AsSpan(), expectMarker, out head, out error);

    /// <summary>Reads a request head from characters that need not be a string (a pooled head buffer), as <see cref="TryParseRequest(string, bool, out ParsedRequestHead?, out string?)"/> does.</summary>
    public static bool TryParseRequest(ReadOnlySpan<char> text, bool expectMarker, out ParsedRequestHead? head, out string? error)
    {
        if (!TryReadRequest(text, expectMarker, out var view, out error))
        {
            head = null;
            return false;
        }

        var headers = new List<KeyValuePair<string, string>>(view.HeaderLines.Count('\n') + 1);
        foreach (var line in view.Headers)
        {
            headers.Add(new KeyValuePair<string, string>(KnownHeadStrings.Get(line.Name), line.Value.ToString()));
        }

        head = new ParsedRequestHead
        {
            Method = KnownHeadStrings.Get(view.Method),
            Target = view.Target.ToString(),
            Headers = headers,
            Marker = view.Marker,
        };
        return true;
    }

    /// <summary>Reads a response head: the status is the second token of the first line; the reason is ignored.</summary>
    public static bool TryParseResponse(string text, out int status, List<KeyValuePair<string, string>> headers)
    {
        ArgumentNullException.ThrowIfNull(headers);
        return TryParseResponse(text.AsSpan(), out status, headers);
    }

    /// <summary>
    /// Reads a response head from characters (for example a pooled buffer the HEADER pieces were decoded into),
    /// adding its headers to <paramref name="headers"/>: allocates only the value strings and uncommon names.
    /// </summary>
    public static bool TryParseResponse(ReadOnlySpan<char> text, out int status, List<KeyValuePair<string, string>> headers)
    {
        ArgumentNullException.ThrowIfNull(headers);
        if (!TryReadResponse(text, out var view))
        {
            status = 0;
            return false;
        }

        status = view.Status;
        foreach (var line in view.Headers)
        {
            headers.Add(new KeyValuePair<string, string>(KnownHeadStrings.Get(line.Name), line.Value.ToString()));
        }

        return true;
    }

    /// <summary>
    /// Reads a request head in place, as <see cref="TryParseRequest(ReadOnlySpan{char}, bool, out ParsedRequestHead?, out string?)"/> does, without allocating: the method, target and
    /// header lines are slices of <paramref name="text"/>, and <paramref name="error"/> is a constant.
    /// </summary>
    public static bool TryReadRequest(ReadOnlySpan<char> text, bool expectMarker, out RequestHeadView head, out string? error)
    {
        head = default;
        var firstEnd = text.IndexOf('\n');
        var headersStart = firstEnd < 0 ? text.Length : firstEnd + 1;
        var headersEnd = text.Length;
        string? marker = null;
        if (expectMarker)
        {
            if (!V1Markers.TryReadMarker(text, out var hasBody, out var beforeMarker))
            {
                error = "request head does not end with _1 or _2";
                return false;
            }

            marker = hasBody ? V1Markers.RequestHasBody : V1Markers.RequestHasNoBody;
            headersEnd = beforeMarker.Length;
        }

        var requestLine = (firstEnd < 0 ? text : text[..firstEnd]).TrimEnd('\r');
        var firstSpace = requestLine.IndexOf(' ');
        var secondSpace = -1;
        if (firstSpace >= 0)
        {
            var next = requestLine[(firstSpace + 1)..].IndexOf(' ');
            secondSpace = next < 0 ? -1 : firstSpace + 1 + next;
        }

        if (firstSpace <= 0 || secondSpace <= firstSpace + 1)
        {
            error = "malformed request line";
            return false;
        }

        var target = requestLine[(firstSpace + 1)..secondSpace];
        if (target.Length == 0 || (target[0] != '/' && !target.SequenceEqual("*")))
        {
            error = "request target must be an absolute path";
            return false;
        }

        head = new RequestHeadView(
            requestLine[..firstSpace],
            target,
            headersStart < headersEnd ? text[headersStart..headersEnd] : [],
            marker);
        error = null;
        return true;
    }

    /// <summary>Reads a response head in place, as <see cref="TryParseResponse(string, out int, List{KeyValuePair{string, string}})"/> does, without allocating.</summary>
    public static bool TryReadResponse(ReadOnlySpan<char> text, out ResponseHeadView head)
    {
        var firstEnd = text.IndexOf('\n');
        if (!TryParseStatusLine(firstEnd < 0 ? text : text[..firstEnd], out var status))
        {
            head = default;
            return false;
        }

        head = new ResponseHeadView(status, firstEnd < 0 ? [] : text[(firstEnd + 1)..]);
        return true;
    }

    /// <summary>
    /// The header lines of <paramref name="lines"/> (LF-separated, as in <see cref="RequestHeadView.HeaderLines"/>),
    /// as slices: split at the first colon, the name trimmed, the value trimmed of spaces, tabs and CR. Lines without
    /// a colon, or with an empty name, are skipped as mu does. Never allocates.
    /// </summary>
    public static HeaderLineEnumerator EnumerateHeaders(ReadOnlySpan<char> lines) => new(lines);

    /// <summary>Reads one header line; false for a blank line or a line without a name.</summary>
    public static bool TryReadHeaderLine(ReadOnlySpan<char> line, out ReadOnlySpan<char> name, out ReadOnlySpan<char> value)
    {
        value = default;
        var colon = line.IndexOf(':');
        if (colon <= 0)
        {
            name = default;
            return false; // blank line, or a line without a name: ignored as mu does
        }

        name = line[..colon].Trim();
        if (name.IsEmpty)
        {
            return false;
        }

        value = line[(colon + 1)..].Trim(" \t\r");
        return true;
    }

    // Same rules as the former string.Split(' ', 3, RemoveEmptyEntries) + int.TryParse on a 3-character token:
    // only three ASCII digits can make a number from 100 to 999 in three characters.
    private static bool TryParseStatusLine(ReadOnlySpan<char> line, out int status)
    {
        status = 0;
        line = line.TrimEnd('\r').TrimStart(' ');
        var space = line.IndexOf(' ');
        if (space < 0 || !line.StartsWith("HTTP/", StringComparison.Ordinal))
        {
            return false;
        }

        var rest = line[space..].TrimStart(' ');
        var end = rest.IndexOf(' ');
        var code = end < 0 ? rest : rest[..end];
        if (code.Length != 3 || code[0] is < '1' or > '9' || !char.IsAsciiDigit(code[1]) || !char.IsAsciiDigit(code[2]))
        {
            return false;
        }

        status = (code[0] - '0') * 100 + (code[1] - '0') * 10 + (code[2] - '0');
        return true;
    }
}

/// <summary>A request head read in place by <see cref="HeadParser.TryReadRequest"/>: slices of the text, nothing copied.</summary>
internal readonly ref struct RequestHeadView(ReadOnlySpan<char> method, ReadOnlySpan<char> target, ReadOnlySpan<char> headerLines, string? marker)
{
    public ReadOnlySpan<char> Method { get; } = method;

    /// <summary>The raw request target: percent-encoded path and query, as the client sent it.</summary>
    public ReadOnlySpan<char> Target { get; } = target;

    /// <summary>The lines between the request line and the marker line (or the end), LF-separated.</summary>
    public ReadOnlySpan<char> HeaderLines { get; } = headerLines;

    /// <summary>The v1 end marker (<see cref="V1Markers.RequestHasBody"/> or <see cref="V1Markers.RequestHasNoBody"/>), or null.</summary>
    public string? Marker { get; } = marker;

    /// <summary>The headers, in order; see <see cref="HeadParser.EnumerateHeaders"/>.</summary>
    public HeaderLineEnumerator Headers => new(HeaderLines);
}

/// <summary>A response head read in place by <see cref="HeadParser.TryReadResponse"/>.</summary>
internal readonly ref struct ResponseHeadView(int status, ReadOnlySpan<char> headerLines)
{
    public int Status { get; } = status;

    /// <summary>The lines after the status line, LF-separated.</summary>
    public ReadOnlySpan<char> HeaderLines { get; } = headerLines;

    /// <summary>The headers, in order; see <see cref="HeadParser.EnumerateHeaders"/>.</summary>
    public HeaderLineEnumerator Headers => new(HeaderLines);
}

/// <summary>One header of a head: name and value as slices of the head text.</summary>
internal readonly ref struct HeaderLine(ReadOnlySpan<char> name, ReadOnlySpan<char> value)
{
    public ReadOnlySpan<char> Name { get; } = name;

    public ReadOnlySpan<char> Value { get; } = value;
}

/// <summary>Walks header lines without allocating; see <see cref="HeadParser.EnumerateHeaders"/>.</summary>
internal ref struct HeaderLineEnumerator(ReadOnlySpan<char> lines)
{
    private ReadOnlySpan<char> _rest = lines;

    public HeaderLine Current { get; private set; }

    public readonly HeaderLineEnumerator GetEnumerator() => this;

    public bool MoveNext()
    {
        while (!_rest.IsEmpty)
        {
            ReadOnlySpan<char> line;
            var lf = _rest.IndexOf('\n');
            if (lf < 0)
            {
                line = _rest;
                _rest = [];
            }
            else
            {
                line = _rest[..lf];
                _rest = _rest[(lf + 1)..];
            }

            if (HeadParser.TryReadHeaderLine(line, out var name, out var value))
            {
                Current = new HeaderLine(name, value);
                return true;
            }
        }

        return false;
    }
}
