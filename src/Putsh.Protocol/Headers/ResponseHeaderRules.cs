namespace Putsh.Protocol.Headers;

/// <summary>
/// The response header rules, target → connector → router → client, in one place for both sides: the connector's
/// (docs/protocol.md §2.2: backend response → response head text, names lowercased, one line per value) and the
/// router's (§2.5: response head → client response). Each side asks one <c>IsDroppedBy…</c> question per header.
/// </summary>
/// <remarks>
/// What passes keeps its lines: each <c>set-cookie</c> stays its own (RFC 9110 §5.3, RFC 6265 §3), and the target's
/// <c>date</c> reaches the client (the router's server then adds none, §2.5). <c>content-length</c> passes and is
/// read with <see cref="HeaderRules.TryParseContentLength"/> (RFC 9110 §8.6), so the client gets a fixed-length body.
/// </remarks>
internal static class ResponseHeaderRules
{
    /// <summary>True for <c>server</c>: the router does not pass on the target's (§2.5).</summary>
    public static bool IsServer(string name) => name.Equals("server", StringComparison.OrdinalIgnoreCase);

    /// <summary>
    /// True when the connector leaves a backend response header out of the response head (§2.2): hop-by-hop or named
    /// in the response's <paramref name="connection"/> field (RFC 9110 §7.6.1).
    /// </summary>
    public static bool IsDroppedByConnector(string name, ReadOnlySpan<char> connection) => HeaderRules.IsDroppedAtHop(name, connection);

    /// <summary>
    /// True when the router leaves a header of the response head out of the client response (§2.5): hop-by-hop or
    /// named in the head's <paramref name="connection"/> field (RFC 9110 §7.6.1), and <c>server</c>.
    /// </summary>
    public static bool IsDroppedByRouter(string name, ReadOnlySpan<char> connection) =>
        HeaderRules.IsDroppedAtHop(name, connection) || IsServer(name);
}
