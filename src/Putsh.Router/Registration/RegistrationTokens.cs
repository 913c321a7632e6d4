using System.Security.Cryptography;
using System.Text;
using Putsh.Protocol;

namespace Putsh.Router.Registration;

/// <summary>
/// A set of registration tokens, each optionally bound to routes. Written one per line (or per
/// <c>--registration-tokens</c>): <c>token</c> for any route, or <c>orders,payments: token</c> for only those.
/// Blank lines and lines starting with <c>#</c> are ignored. Tokens are kept only as SHA-256 digests and compared in
/// constant time; they never appear in a log line or an error message.
/// </summary>
internal sealed class RegistrationTokens
{
    private readonly Entry[] _entries;

    private RegistrationTokens(Entry[] entries) => _entries = entries;

    public static RegistrationTokens Empty { get; } = new([]);

    public static RegistrationTokens Combine(RegistrationTokens a, RegistrationTokens b) => new([.. a._entries, .. b._entries]);

    public int Count => _entries.Length;

    private readonly record struct Entry(byte[] Digest, string[]? Routes);

    /// <summary>Parses token lines; throws <see cref="FormatException"/> naming the line (never the token) that is wrong.</summary>
    public static RegistrationTokens Parse(IEnumerable<string> lines, string source)
    {
        var entries = new List<Entry>();
        var number = 0;
        foreach (var raw in lines)
        {
            number++;
            var line = raw.Trim();
            if (line.Length == 0 || line[0] == '#')
            {
                continue;
            }

            string[]? routes = null;
            var colon = line.IndexOf(':', StringComparison.Ordinal);
            var token = line;
            if (colon >= 0)
            {
                routes = line[..colon].Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
                token = line[(colon + 1)..].Trim();
                if (routes.Length == 0)
                {
                    throw new FormatException($"{source}, line {number}: no route before ':' (write 'orders,payments: <token>', or the token alone for any route).");
                }

                foreach (var route in routes)
                {
                    if (!CrankerProtocol.IsValidRoute(route, multiSegment: true))
                    {
                        throw new FormatException($"{source}, line {number}: '{route}' is not a route name.");
                    }
                }
            }

            if (!IsBearerToken(token))
            {
                throw new FormatException($"{source}, line {number}: the token is empty or has characters a bearer token cannot have (letters, digits and -._~+/ then optional =).");
            }

            // A binding that includes the catch-all route is a binding to every route.
            entries.Add(new Entry(Digest(token), routes?.Contains(CrankerProtocol.CatchAll) == true ? null : routes));
        }

        return new RegistrationTokens([.. entries]);
    }

    /// <summary>Whether <paramref name="presented"/> is one of the tokens, and if so the routes it is bound to (null: any).</summary>
    public bool TryMatch(ReadOnlySpan<char> presented, out string[]? routes)
    {
        Span<byte> digest = stackalloc byte[SHA256.HashSizeInBytes];
        var max = Encoding.UTF8.GetMaxByteCount(presented.Length);
        var bytes = max <= 512 ? stackalloc byte[max] : new byte[max];
        var length = Encoding.UTF8.GetBytes(presented, bytes);
        SHA256.HashData(bytes[..length], digest);

        // Every entry is compared, whatever matched before it, so the time taken says nothing about which did.
        routes = null;
        var found = false;
        foreach (var entry in _entries)
        {
            if (CryptographicOperations.FixedTimeEquals(entry.Digest, digest) && !found)
            {
                found = true;
                routes = entry.Routes;
            }
        }

        return found;
    }

    private static byte[] Digest(string token) => SHA256.HashData(Encoding.UTF8.GetBytes(token));

    /// <summary>RFC 6750's b64token: 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=".</summary>
    internal static bool IsBearerToken(ReadOnlySpan<char> token)
    {
        var i = 0;
        while (i < token.Length && (char.IsAsciiLetterOrDigit(token[i]) || token[i] is '-' or '.' or '_' or '~' or '+' or '/'))
        {
            i++;
        }

        if (i == 0)
        {
            return false;
        }

        while (i < token.Length && token[i] == '=')
        {
            i++;
        }

        return i == token.Length;
    }
}
