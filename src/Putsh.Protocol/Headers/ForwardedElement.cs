using System.Text;

namespace Putsh.Protocol.Headers;

/// <summary>One element of an RFC 7239 <c>Forwarded</c> header: <c>by</c>, <c>for</c>, <c>host</c>, <c>proto</c>.</summary>
public sealed record ForwardedElement(string? By, string? For, string? Host, string? Proto)
{
    /// <summary>
    /// Serialises the element as mu-cranker-router does (§2.3): parameters in the order by, for, host, proto,
    /// absent ones omitted; a value is bare when every character is an RFC 7230 tchar, otherwise quoted.
    /// </summary>
    public override string ToString()
    {
        var sb = new StringBuilder();
        Append(sb, "by", By);
        Append(sb, "for", For);
        Append(sb, "host", Host);
        Append(sb, "proto", Proto);
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
        if (value.Length > 0 && IsToken(value))
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

    /// <summary>True when every character is an RFC 7230 <c>tchar</c>.</summary>
    public static bool IsToken(ReadOnlySpan<char> value)
    {
        foreach (var c in value)
        {
            var ok = c is (>= 'a' and <= 'z') or (>= 'A' and <= 'Z') or (>= '0' and <= '9')
                or '!' or '#' or '$' or '%' or '&' or '\'' or '*' or '+' or '-' or '.' or '^' or '_' or '`' or '|' or '~';
            if (!ok)
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>
    /// Parses the values of one or more <c>Forwarded</c> headers into elements, in order. Unknown parameters
    /// are dropped; malformed pairs are skipped rather than failing the request.
    /// </summary>
    public static List<ForwardedElement> Parse(IEnumerable<string?> headerValues)
    {
        ArgumentNullException.ThrowIfNull(headerValues);
        var result = new List<ForwardedElement>();
        foreach (var headerValue in headerValues)
        {
            if (string.IsNullOrEmpty(headerValue))
            {
                continue;
            }

            string? by = null, @for = null, host = null, proto = null;
            var any = false;
            var i = 0;
            var s = headerValue;
            while (i <= s.Length)
            {
                // name
                var nameStart = i;
                while (i < s.Length && s[i] != '=' && s[i] != ';' && s[i] != ',')
                {
                    i++;
                }

                var name = s[nameStart..i].Trim();
                string? value = null;
                if (i < s.Length && s[i] == '=')
                {
                    i++;
                    while (i < s.Length && s[i] == ' ')
                    {
                        i++;
                    }

                    if (i < s.Length && s[i] == '"')
                    {
                        var sb = new StringBuilder();
                        i++;
                        while (i < s.Length && s[i] != '"')
                        {
                            if (s[i] == '\\' && i + 1 < s.Length)
                            {
                                i++;
                            }

                            sb.Append(s[i]);
                            i++;
                        }

                        i++; // closing quote
                        value = sb.ToString();
                        while (i < s.Length && s[i] != ';' && s[i] != ',')
                        {
                            i++;
                        }
                    }
                    else
                    {
                        var valueStart = i;
                        while (i < s.Length && s[i] != ';' && s[i] != ',')
                        {
                            i++;
                        }

                        value = s[valueStart..i].Trim();
                    }
                }

                if (value is not null && name.Length > 0)
                {
                    // Only the four RFC 7239 parameters are kept; an element with none of them is dropped.
                    any |= name.ToLowerInvariant() switch
                    {
                        "by" => (by = value) is not null,
                        "for" => (@for = value) is not null,
                        "host" => (host = value) is not null,
                        "proto" => (proto = value) is not null,
                        _ => false,
                    };
                }

                if (i >= s.Length || s[i] == ',')
                {
                    if (any)
                    {
                        result.Add(new ForwardedElement(by, @for, host, proto));
                    }

                    by = @for = host = proto = null;
                    any = false;
                    if (i >= s.Length)
                    {
                        break;
                    }
                }

                i++; // skip ';' or ','
            }
        }

        return result;
    }

    /// <summary>
    /// Builds elements from legacy <c>X-Forwarded-For/-Host/-Port/-Proto</c> headers, as mu does when a client sent
    /// no <c>Forwarded</c> header (§2.3): comma lists are zipped by index, and only lists of the greatest length take
    /// part; a port is folded into the host unless it is the scheme's default.
    /// </summary>
    public static List<ForwardedElement> FromLegacy(string? xfFor, string? xfHost, string? xfPort, string? xfProto)
    {
        static string[] Split(string? v) => string.IsNullOrWhiteSpace(v)
            ? []
            : v.Split(',', StringSplitOptions.TrimEntries);

        var fors = Split(xfFor);
        var hosts = Split(xfHost);
        var ports = Split(xfPort);
        var protos = Split(xfProto);
        var count = Math.Max(Math.Max(fors.Length, hosts.Length), Math.Max(ports.Length, protos.Length));
        var result = new List<ForwardedElement>(count);
        for (var i = 0; i < count; i++)
        {
            var f = fors.Length == count ? fors[i] : null;
            var h = hosts.Length == count ? hosts[i] : null;
            var port = ports.Length == count ? ports[i] : null;
            var proto = protos.Length == count ? protos[i] : null;
            if (h is not null && port is not null && !HasPort(h))
            {
                var isDefault = (port == "80" && (proto is null || proto.Equals("http", StringComparison.OrdinalIgnoreCase)))
                    || (port == "443" && proto is not null && proto.Equals("https", StringComparison.OrdinalIgnoreCase));
                if (!isDefault)
                {
                    h = h + ":" + port;
                }
            }

            result.Add(new ForwardedElement(null, f, h, proto));
        }

        return result;
    }

    /// <summary>True when a host value already carries a port: <c>name:port</c>, or <c>[v6]:port</c> for IPv6.</summary>
    private static bool HasPort(string host) => host.StartsWith('[')
        ? host.Contains("]:", StringComparison.Ordinal)
        : host.Contains(':', StringComparison.Ordinal);
}
