using System.Net.Http.Headers;
using System.Text;
using Putsh.Protocol.Headers;
using Putsh.Protocol.V1;

namespace Putsh.Benchmarks.Legacy;

/// <summary>
/// The string-based code paths as they were at commit 18e6c7f, before the allocation-free APIs were added, kept
/// verbatim (apart from names) so that every benchmark can show its "before" next to its "after" in one run.
/// Nothing in the product calls these.
/// </summary>
internal static class LegacyCodecs
{
    // ---- V3Frame (before the head was encoded piece by piece from slices) ----

    /// <summary>Cuts a head into pieces of at most 16000 characters, never between the halves of a surrogate pair.</summary>
    public static List<string> SplitHead(string head)
    {
        var pieces = new List<string>(head.Length / 16000 + 1);
        var start = 0;
        while (head.Length - start > 16000)
        {
            var length = char.IsHighSurrogate(head[start + 16000 - 1]) ? 16000 - 1 : 16000;
            pieces.Add(head.Substring(start, length));
            start += length;
        }

        pieces.Add(head[start..]);
        return pieces;
    }

    // ---- HeadParser (18e6c7f) ----

    public static bool TryParseRequest(string text, bool expectMarker, out ParsedRequestHead? head, out string? error)
    {
        head = null;
        var lines = text.Split('\n');
        var last = lines.Length - 1;
        string? marker = null;
        if (expectMarker)
        {
            var m = lines[last].TrimEnd('\r');
            if (m is not (V1Markers.RequestHasBody or V1Markers.RequestHasNoBody))
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

    public static bool TryParseResponse(string text, out int status, List<KeyValuePair<string, string>> headers)
    {
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
            return;
        }

        var name = line[..colon].Trim();
        if (name.Length == 0)
        {
            return;
        }

        var value = line[(colon + 1)..].Trim(' ', '\t', '\r');
        headers.Add(new KeyValuePair<string, string>(name, value));
    }

    // ---- ForwardedElement.ToString (18e6c7f) ----

    public static string ForwardedToString(ForwardedElement element)
    {
        var sb = new StringBuilder();
        Append(sb, "by", element.By);
        Append(sb, "for", element.For);
        Append(sb, "host", element.Host);
        Append(sb, "proto", element.Proto);
        return sb.ToString();
    }

    private static void Append(StringBuilder sb, string name, string? value)
    {
        if (value is null)
        {
            return;
        }

        if (sb.Length > 0)
        {
            sb.Append(';');
        }

        sb.Append(name).Append('=');
        if (value.Length > 0 && ForwardedElement.IsToken(value))
        {
            sb.Append(value);
            return;
        }

        sb.Append('"');
        foreach (var c in value)
        {
            if (c is '"' or '\\')
            {
                sb.Append('\\');
            }

            sb.Append(c);
        }

        sb.Append('"');
    }

    // ---- TargetClient.BuildResponseHead (18e6c7f) ----

    public static string BuildResponseHead(HttpResponseMessage response)
    {
        var head = HeadText.ForResponse((int)response.StatusCode, response.ReasonPhrase);
        List<string>? connectionTokens = null;
        if (response.Headers.NonValidated.TryGetValues("Connection", out var connection))
        {
            connectionTokens = HopByHopHeaders.ParseConnectionTokens(connection);
        }

        AddAll(head, response.Headers.NonValidated, connectionTokens);
        AddAll(head, response.Content.Headers.NonValidated, connectionTokens);
        return head.ToResponseString();
    }

    private static void AddAll(HeadText head, HttpHeadersNonValidated headers, List<string>? connectionTokens)
    {
        foreach (var (name, values) in headers)
        {
            if (HopByHopHeaders.ShouldSkip(name, connectionTokens))
            {
                continue;
            }

            var lower = name.ToLowerInvariant();
            foreach (var value in values)
            {
                head.Add(lower, value);
            }
        }
    }
}
