namespace Putsh.Protocol.Headers;

/// <summary>
/// Headers that belong to one hop and are never forwarded (RFC 9110 §7.6.1; docs/protocol.md §2.3 and §2.5).
/// The public form of the hop rule in <see cref="HeaderRules"/>, which the router and the connector use themselves.
/// </summary>
internal static class HopByHopHeaders
{
    /// <summary>True when <paramref name="name"/> is hop-by-hop on its own (without looking at <c>Connection</c>).</summary>
    public static bool IsHopByHop(string name) => HeaderRules.IsHopByHop(name);

    /// <summary>
    /// True when <paramref name="name"/> must not be forwarded: it is hop-by-hop, or it is named in the message's
    /// <c>Connection</c> header (<paramref name="connectionTokens"/>, as returned by <see cref="ParseConnectionTokens"/>).
    /// </summary>
    public static bool ShouldSkip(string name, IReadOnlyCollection<string>? connectionTokens)
    {
        if (HeaderRules.IsHopByHop(name))
        {
            return true;
        }

        if (connectionTokens is null || connectionTokens.Count == 0)
        {
            return false;
        }

        foreach (var token in connectionTokens)
        {
            if (string.Equals(token, name, StringComparison.OrdinalIgnoreCase))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>
    /// True when <paramref name="name"/> is one of the comma-separated tokens of one <c>Connection</c> header value
    /// (tokens trimmed, compared ignoring case): the test <see cref="ShouldSkip"/> makes against
    /// <see cref="ParseConnectionTokens"/>, without splitting the value into strings.
    /// </summary>
    public static bool IsNominated(ReadOnlySpan<char> connectionValue, ReadOnlySpan<char> name) => HeaderRules.IsNominated(name, connectionValue);

    /// <summary>Splits the values of a <c>Connection</c> header into trimmed, non-empty tokens; null when there are none.</summary>
    public static List<string>? ParseConnectionTokens(IEnumerable<string?> connectionValues)
    {
        ArgumentNullException.ThrowIfNull(connectionValues);
        List<string>? tokens = null;
        foreach (var value in connectionValues)
        {
            if (string.IsNullOrEmpty(value))
            {
                continue;
            }

            foreach (var part in value.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
            {
                (tokens ??= []).Add(part);
            }
        }

        return tokens;
    }
}
