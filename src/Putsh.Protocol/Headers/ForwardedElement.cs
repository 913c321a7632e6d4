using System.Buffers;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Putsh.Protocol.Headers;

/// <summary>One element of an RFC 7239 <c>Forwarded</c> header: <c>by</c>, <c>for</c>, <c>host</c>, <c>proto</c>.</summary>
internal sealed record ForwardedElement(string? By, string? For, string? Host, string? Proto)
{
    /// <summary>
    /// Serialises the element as mu-cranker-router does (§2.3): parameters in the order by, for, host, proto,
    /// absent ones omitted; a value is bare when every character is an RFC 7230 tchar, otherwise quoted.
    /// </summary>
    public override string ToString()
    {
        // Quoting at most doubles a value; the names, the =, the quotes and the ; take at most 29 more.
        var max = 32 + 2 * ((By?.Length ?? 0) + (For?.Length ?? 0) + (Host?.Length ?? 0) + (Proto?.Length ?? 0));
        char[]? rented = null;
        var buffer = max <= 512 ? stackalloc char[512] : (rented = ArrayPool<char>.Shared.Rent(max));
        try
        {
            TryFormat(buffer, out var written);
            return new string(buffer[..written]);
        }
        finally
        {
            if (rented is not null)
            {
                ArrayPool<char>.Shared.Return(rented);
            }
        }
    }

    /// <summary>Writes what <see cref="ToString"/> returns into <paramref name="destination"/>, without allocating; false when it does not fit.</summary>
    public bool TryFormat(Span<char> destination, out int charsWritten)
    {
        var writer = new ParameterWriter(destination);
        writer.AddIfPresent("by", By);
        writer.AddIfPresent("for", For);
        writer.AddIfPresent("host", Host);
        writer.AddIfPresent("proto", Proto);
        return writer.TryComplete(out charsWritten);
    }

    /// <summary>
    /// Writes the element <c>new ForwardedElement(node(by), node(for), host, proto).ToString()</c> would give, where
    /// node is <see cref="TryFormatNode"/>, without allocating the address strings, the element or the text.
    /// False when it does not fit <paramref name="destination"/>.
    /// </summary>
    internal static bool TryFormat(Span<char> destination, out int charsWritten, IPAddress? by, IPAddress? @for, string? host, string? proto)
    {
        Span<char> node = stackalloc char[MaxNodeLength];
        var writer = new ParameterWriter(destination);
        if (by is not null && TryFormatNode(by, node, out var n))
        {
            writer.Add("by", node[..n]);
        }

        if (@for is not null && TryFormatNode(@for, node, out n))
        {
            writer.Add("for", node[..n]);
        }

        writer.AddIfPresent("host", host);
        writer.AddIfPresent("proto", proto);
        return writer.TryComplete(out charsWritten);
    }

    /// <summary>Room for any address <see cref="TryFormatNode"/> writes: an IPv6 address with a scope id, in brackets.</summary>
    internal const int MaxNodeLength = 72;

    /// <summary>
    /// An address as a node (RFC 7239 §6): IPv4 as a dotted quad (an IPv4-mapped IPv6 address unwrapped), IPv6 in
    /// brackets. Never allocates.
    /// </summary>
    internal static bool TryFormatNode(IPAddress address, Span<char> destination, out int charsWritten)
    {
        ArgumentNullException.ThrowIfNull(address);
        charsWritten = 0;
        if (address.AddressFamily != AddressFamily.InterNetworkV6)
        {
            return address.TryFormat(destination, out charsWritten);
        }

        if (address.IsIPv4MappedToIPv6)
        {
            // "::ffff:a.b.c.d": the dotted quad is what follows the last colon (MapToIPv4 would allocate).
            Span<char> mapped = stackalloc char[MaxNodeLength];
            if (!address.TryFormat(mapped, out var n))
            {
                return false;
            }

            var quad = mapped[..n][(mapped[..n].LastIndexOf(':') + 1)..];
            charsWritten = quad.Length;
            return quad.TryCopyTo(destination);
        }

        if (destination.Length < 2 || !address.TryFormat(destination[1..], out var length) || destination.Length < length + 2)
        {
            return false;
        }

        destination[0] = '[';
        destination[length + 1] = ']';
        charsWritten = length + 2;
        return true;
    }

    /// <summary>Writes <c>name=value</c> parameters joined by <c>;</c>, quoting values as <see cref="ToString"/> does.</summary>
    private ref struct ParameterWriter(Span<char> destination)
    {
        private readonly Span<char> _destination = destination;
        private int _length;
        private bool _overflow;

        public void AddIfPresent(string name, string? value)
        {
            if (value is not null)
            {
                Add(name, value);
            }
        }

        public void Add(string name, scoped ReadOnlySpan<char> value)
        {
            if (_length > 0)
            {
                Append(';');
            }

            Append(name);
            Append('=');
            if (value.Length > 0 && IsToken(value))
            {
                Append(value);
                return;
            }

            Append('"');
            AppendEscaped(value);
            Append('"');
        }

        private void AppendEscaped(scoped ReadOnlySpan<char> value)
        {
            foreach (var c in value)
            {
                if (c is '"' or '\\')
                {
                    Append('\\');
                }

                Append(c);
            }
        }

        /// <summary><c>name="host:port"</c>: the joined value holds a colon, so it is always quoted.</summary>
        public void AddHostWithPort(string name, scoped ReadOnlySpan<char> host, scoped ReadOnlySpan<char> port)
        {
            if (_length > 0)
            {
                Append(';');
            }

            Append(name);
            Append("=\"");
            AppendEscaped(host);
            Append(':');
            AppendEscaped(port);
            Append('"');
        }

        public readonly bool TryComplete(out int charsWritten)
        {
            charsWritten = _overflow ? 0 : _length;
            return !_overflow;
        }

        private void Append(char c)
        {
            if (_length < _destination.Length)
            {
                _destination[_length++] = c;
            }
            else
            {
                _overflow = true;
            }
        }

        private void Append(scoped ReadOnlySpan<char> value)
        {
            if (value.TryCopyTo(_destination[_length..]))
            {
                _length += value.Length;
            }
            else
            {
                _overflow = true;
            }
        }
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

    /// <summary>
    /// Writes what <see cref="FromLegacy"/> followed by <see cref="ToString"/> gives when the legacy headers describe
    /// at most one element (no value holds a comma), without allocating: <paramref name="hasElement"/> tells whether
    /// there was one. False when they describe several elements (use <see cref="FromLegacy"/>), or when the text does
    /// not fit <paramref name="destination"/>.
    /// </summary>
    internal static bool TryFormatLegacy(Span<char> destination, string? xfFor, string? xfHost, string? xfPort, string? xfProto, out int charsWritten, out bool hasElement)
    {
        charsWritten = 0;
        hasElement = false;
        if (LegacyCount(xfFor) > 1 || LegacyCount(xfHost) > 1 || LegacyCount(xfPort) > 1 || LegacyCount(xfProto) > 1)
        {
            return false;
        }

        // With one element every non-blank list takes part, its value trimmed as Split(TrimEntries) trims it.
        var f = LegacyValue(xfFor, out var hasFor);
        var h = LegacyValue(xfHost, out var hasHost);
        var port = LegacyValue(xfPort, out var hasPort);
        var proto = LegacyValue(xfProto, out var hasProto);
        if (!(hasFor || hasHost || hasPort || hasProto))
        {
            return true;
        }

        var writer = new ParameterWriter(destination);
        if (hasFor)
        {
            writer.Add("for", f);
        }

        if (hasHost)
        {
            var isDefault = (port.SequenceEqual("80") && (!hasProto || proto.Equals("http", StringComparison.OrdinalIgnoreCase)))
                || (port.SequenceEqual("443") && hasProto && proto.Equals("https", StringComparison.OrdinalIgnoreCase));
            if (hasPort && !HasPort(h) && !isDefault)
            {
                writer.AddHostWithPort("host", h, port);
            }
            else
            {
                writer.Add("host", h);
            }
        }

        if (hasProto)
        {
            writer.Add("proto", proto);
        }

        hasElement = true;
        return writer.TryComplete(out charsWritten);
    }

    // Number of entries Split(',', TrimEntries) gives a legacy value, 0 when it is blank (as FromLegacy counts).
    private static int LegacyCount(string? value) =>
        string.IsNullOrWhiteSpace(value) ? 0 : value.AsSpan().Count(',') + 1;

    private static ReadOnlySpan<char> LegacyValue(string? value, out bool present)
    {
        present = !string.IsNullOrWhiteSpace(value);
        return present ? value.AsSpan().Trim() : default;
    }

    /// <summary>True when a host value already carries a port: <c>name:port</c>, or <c>[v6]:port</c> for IPv6.</summary>
    private static bool HasPort(ReadOnlySpan<char> host) => host.StartsWith('[')
        ? host.Contains("]:", StringComparison.Ordinal)
        : host.Contains(':');
}
