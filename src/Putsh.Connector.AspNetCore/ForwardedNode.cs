using System.Globalization;
using System.Net;

namespace Putsh.Connector.AspNetCore;

/// <summary>Reads the address and port of an RFC 7239 node (<c>for=</c> or <c>by=</c>, already unquoted).</summary>
internal static class ForwardedNode
{
    /// <summary>
    /// <c>127.0.0.1</c>, <c>127.0.0.1:5000</c>, <c>[::1]</c>, <c>[::1]:5000</c> and the Java style <c>0:0:0:0:0:0:0:1</c>
    /// give an address (and a port, else 0); <c>unknown</c>, obfuscated names and anything else give null.
    /// </summary>
    public static (IPAddress? Address, int Port) Parse(string? node)
    {
        if (string.IsNullOrWhiteSpace(node))
        {
            return (null, 0);
        }

        var s = node.Trim().Trim('"');
        string host;
        string? port = null;
        if (s.StartsWith('['))
        {
            var end = s.IndexOf(']', StringComparison.Ordinal);
            if (end < 0)
            {
                return (null, 0);
            }

            host = s[1..end];
            if (s.Length > end + 1 && s[end + 1] == ':')
            {
                port = s[(end + 2)..];
            }
        }
        else
        {
            var colon = s.IndexOf(':', StringComparison.Ordinal);
            if (colon >= 0 && s.IndexOf(':', colon + 1) < 0)
            {
                host = s[..colon];
                port = s[(colon + 1)..];
            }
            else
            {
                host = s;
            }
        }

        if (!IPAddress.TryParse(host, out var address))
        {
            return (null, 0);
        }

        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }

        return (address, int.TryParse(port, NumberStyles.None, CultureInfo.InvariantCulture, out var p) && p is > 0 and <= 65535 ? p : 0);
    }
}
