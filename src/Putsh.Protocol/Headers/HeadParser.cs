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
internal static class HeadParser
{
    /// <summary>Reads a request head; with <paramref name="expectMarker"/> the last line must be a v1 marker.</summary>
    public static bool TryParseRequest(string text, bool expectMarker, out ParsedRequestHead? head, out string? error)
    {
        head = null;
        var lines = text.Split('\n');
        var last = lines.Length - 1;
        string? marker = null;
        if (expectMarker)
        {
            var m = lines[last].TrimEnd('\r');
            if (m is not (V1.V1Markers.RequestHasBody or V1.V1Markers.RequestHasNoBody))
            {
                error = "request head does not end with _1 or _2";
                return false;
            }

            marker = m;
            last--;
        }

        var requestLine = lines[0].TrimEnd('\r');
        var firstSpace = requestLine.IndexOf(' ', StringComparison.Ordinal);
        var secondSpace = firstSpace < 0 ? -1 : requestLine.IndexOf(' ', firstSpace + 1);
        if (firstSpace <= 0 || secondSpace <= firstSpace + 1)
        {
            error = "malformed request line";
            return false;
        }

        var method = requestLine[..firstSpace];
        var target = requestLine[(firstSpace + 1)..secondSpace];
        if (target.Length == 0 || (target[0] != '/' && target != "*"))
        {
            error = "request target must be an absolute path";
            return false;
        }

        var headers = new List<KeyValuePair<string, string>>(lines.Length);
        for (var i = 1; i <= last; i++)
        {
            AddHeaderLine(lines[i], headers);
        }

        head = new ParsedRequestHead { Method = method, Target = target, Headers = headers, Marker = marker };
        error = null;
        return true;
    }

    /// <summary>Reads a response head: the status is the second token of the first line; the reason is ignored.</summary>
    public static bool TryParseResponse(string text, out int status, List<KeyValuePair<string, string>> headers)
    {
        ArgumentNullException.ThrowIfNull(headers);
        status = 0;
        var lines = text.Split('\n');
        var statusLine = lines[0].TrimEnd('\r');
        var parts = statusLine.Split(' ', 3, StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length < 2 || !parts[0].StartsWith("HTTP/", StringComparison.Ordinal)
            || parts[1].Length != 3 || !int.TryParse(parts[1], out status) || status < 100 || status > 999)
        {
            status = 0;
            return false;
        }

        for (var i = 1; i < lines.Length; i++)
        {
            AddHeaderLine(lines[i], headers);
        }

        return true;
    }

    private static void AddHeaderLine(string line, List<KeyValuePair<string, string>> headers)
    {
        var colon = line.IndexOf(':', StringComparison.Ordinal);
        if (colon <= 0)
        {
            return; // blank line, or a line without a name: ignored as mu does
        }

        var name = line[..colon].Trim();
        if (name.Length == 0)
        {
            return;
        }

        var value = line[(colon + 1)..].Trim(' ', '\t', '\r');
        headers.Add(new KeyValuePair<string, string>(name, value));
    }
}
