using System.Collections.Frozen;

namespace Putsh.Protocol.Headers;

/// <summary>
/// The request header rules, client → router → connector → target, in one place for both sides: the router's
/// (docs/protocol.md §2.3: client request → Cranker request head) and the connector's (§2.6: Cranker request head
/// → backend request or WebSocket handshake). Each side asks one <c>IsDroppedBy…</c> question per header, built from
/// the small rules below, and writes what it adds with the steps at the end.
/// </summary>
internal static class RequestHeaderRules
{
    // The forwarding fields the router writes itself (§2.3): the client's are never passed through verbatim.
    private static readonly FrozenSet<string> s_regenerated = FrozenSet.Create(
        StringComparer.OrdinalIgnoreCase,
        "forwarded", "x-forwarded-by", "x-forwarded-for", "x-forwarded-host", "x-forwarded-proto",
        "x-forwarded-port", "x-forwarded-server", "via");

    // ---- the rules ----

    /// <summary>True for an HTTP/2 pseudo-header (<c>:authority</c>, RFC 9113 §8.3) or an empty name: never in a head (§2.1).</summary>
    public static bool IsPseudoHeader(string name) => name.Length == 0 || name[0] == ':';

    /// <summary>
    /// True for <c>expect</c> (RFC 9110 §10.1.1): the router answers <c>100-continue</c> itself (§2.3), and the
    /// connector never sends it on (§2.6).
    /// </summary>
    /// <summary>
    /// A <c>te</c> field that asks for trailers: with the <c>trailers</c> extension (docs/protocol.md §12.8) the
    /// router and the connector pass it on as <c>te: trailers</c>, the one value HTTP/2 allows; otherwise <c>te</c> is
    /// hop-by-hop and ends at each hop.
    /// </summary>
    public static bool IsTeTrailers(string name, string? value) =>
        name.Equals("te", StringComparison.OrdinalIgnoreCase) && WebSockets.WsHandshake.HasToken(value, "trailers");

    public static bool IsExpect(string name) => name.Equals("expect", StringComparison.OrdinalIgnoreCase);

    /// <summary>
    /// True for the fields the router writes itself (§2.3): <c>via</c> (RFC 9110 §7.6.3), <c>forwarded</c>
    /// (RFC 7239) and the legacy <c>x-forwarded-by</c>, <c>-for</c>, <c>-host</c>, <c>-proto</c>, <c>-port</c> and
    /// <c>-server</c>.
    /// </summary>
    public static bool IsRegeneratedByRouter(string name) => s_regenerated.Contains(name);

    /// <summary>
    /// True for <c>host</c> (RFC 9110 §7.2): the router passes it on only with <c>ProxyHostHeader</c> (§2.3), the
    /// connector sends it to the target only with <c>PreserveHost</c> (§2.6); otherwise the target's own authority.
    /// </summary>
    public static bool IsHost(string name) => name.Equals("host", StringComparison.OrdinalIgnoreCase);

    /// <summary>
    /// True for the trace-context fields (W3C <c>traceparent</c>, <c>tracestate</c> and <c>baggage</c>, and the older
    /// <c>request-id</c> and <c>correlation-context</c>): where a span is current, its own replace them (docs/tracing.md).
    /// </summary>
    public static bool IsTraceContext(string name) =>
        name.Equals("traceparent", StringComparison.OrdinalIgnoreCase) || name.Equals("tracestate", StringComparison.OrdinalIgnoreCase)
        || name.Equals("baggage", StringComparison.OrdinalIgnoreCase) || name.Equals("request-id", StringComparison.OrdinalIgnoreCase)
        || name.Equals("correlation-context", StringComparison.OrdinalIgnoreCase);

    /// <summary>True for <c>cookie</c>: its lines go on as one (RFC 6265 §5.4; §2.3 point 1), see <see cref="AddCookie"/>.</summary>
    public static bool IsCookie(string name) => name.Equals("cookie", StringComparison.OrdinalIgnoreCase);

    /// <summary>
    /// True for <c>sec-websocket-key</c> and <c>sec-websocket-extensions</c> (RFC 6455 §4.1, §11.3.1, §11.3.2): they
    /// belong to one handshake, and each hop makes its own, with no extensions (docs/websocket-extension.md §3).
    /// </summary>
    public static bool IsPerHopWebSocketField(string name) =>
        name.Equals("sec-websocket-key", StringComparison.OrdinalIgnoreCase) || name.Equals("sec-websocket-extensions", StringComparison.OrdinalIgnoreCase);

    /// <summary>
    /// True for any <c>sec-websocket-*</c> field (RFC 6455 §11.3): the connector's WebSocket client writes the
    /// handshake's own (key, version, and the subprotocols it was given, see <see cref="IsSubprotocols"/>).
    /// </summary>
    public static bool IsWebSocketHandshakeField(string name) => name.StartsWith("sec-websocket-", StringComparison.OrdinalIgnoreCase);

    /// <summary>True for <c>sec-websocket-protocol</c>, the client's requested subprotocols (RFC 6455 §4.1, §11.3.4).</summary>
    public static bool IsSubprotocols(string name) => name.Equals("sec-websocket-protocol", StringComparison.OrdinalIgnoreCase);

    /// <summary>True for a <c>content-*</c> field (RFC 9110 §8): it describes a body, and a WebSocket handshake has none.</summary>
    public static bool IsContentField(string name) => name.StartsWith("content-", StringComparison.OrdinalIgnoreCase);

    // ---- each side's question ----

    /// <summary>
    /// True when the router leaves a client header out of the Cranker head (§2.3): a pseudo-header, trace context
    /// where the router has a span (<paramref name="traced"/>), hop-by-hop or named in <paramref name="connection"/>,
    /// <c>expect</c>, a forwarding field it regenerates, <c>host</c> unless <paramref name="keepHost"/>, and for a
    /// <paramref name="webSocket"/> head the per-hop handshake fields.
    /// </summary>
    public static bool IsDroppedByRouter(string name, ReadOnlySpan<char> connection, bool traced, bool keepHost, bool webSocket) =>
        IsPseudoHeader(name)
        || (traced && IsTraceContext(name))
        || HeaderRules.IsDroppedAtHop(name, connection)
        || IsExpect(name)
        || IsRegeneratedByRouter(name)
        || (webSocket && IsPerHopWebSocketField(name))
        || (!keepHost && IsHost(name));

    /// <summary>
    /// True when the connector leaves a header of the Cranker head out of the backend request (§2.6): hop-by-hop or
    /// named in <paramref name="connection"/>, <c>expect</c>, and trace context where the connector has a span
    /// (<paramref name="traced"/>; HttpClient then sends the span's). <c>content-length</c> and <c>host</c> pass this
    /// test and are then placed by the caller (<see cref="HeaderRules.TryParseContentLength"/>, <see cref="IsHost"/>).
    /// </summary>
    public static bool IsDroppedByConnector(string name, ReadOnlySpan<char> connection, bool traced) =>
        HeaderRules.IsDroppedAtHop(name, connection)
        || (traced && IsTraceContext(name))
        || IsExpect(name);

    /// <summary>
    /// True when the connector leaves a header of an upgrade head out of its WebSocket handshake with the backend
    /// (docs/websocket-extension.md §4): hop-by-hop or named in <paramref name="connection"/>, any <c>sec-websocket-*</c>
    /// field, <c>content-*</c>, <c>expect</c>, and a value with CR or LF. The caller takes <see cref="IsSubprotocols"/>
    /// and <see cref="IsHost"/> first.
    /// </summary>
    public static bool IsDroppedFromBackendWebSocket(string name, string value, ReadOnlySpan<char> connection) =>
        HeaderRules.IsDroppedAtHop(name, connection)
        || IsWebSocketHandshakeField(name)
        || IsContentField(name)
        || IsExpect(name)
        || !HeaderRules.IsSafeValue(value);

    // ---- what the router writes ----

    /// <summary>
    /// Writes the client's cookie lines as one <c>cookie</c> line, joined with <c>; </c> (RFC 6265 §5.4; HTTP/2 clients
    /// send crumbs, RFC 9113 §8.2.3; §2.3 point 1).
    /// </summary>
    public static void AddCookie<TCrumbs>(HeadText head, TCrumbs crumbs)
        where TCrumbs : IReadOnlyList<string?>
    {
        ArgumentNullException.ThrowIfNull(head);
        head.Add("cookie", crumbs.Count == 1 ? crumbs[0] : HeaderRules.Join(crumbs, "; "));
    }

    /// <summary>
    /// Writes the one <c>via</c> line (RFC 9110 §7.6.3; §2.3 point 2): the client's <paramref name="prior"/> values
    /// joined with <c>, </c>, then <c>, </c> and <c>&lt;protocol&gt; &lt;viaName&gt;</c>; formatted in
    /// <paramref name="buffer"/> when there is no prior value and it fits.
    /// </summary>
    public static void AddVia<TLines>(HeadText head, TLines prior, string protocol, string viaName, Span<char> buffer)
        where TLines : IReadOnlyList<string?>
    {
        ArgumentNullException.ThrowIfNull(head);
        var noPrior = prior.Count == 0 || (prior.Count == 1 && string.IsNullOrEmpty(prior[0]));
        if (noPrior && buffer.TryWrite($"{protocol} {viaName}", out var length))
        {
            head.Add("via", buffer[..length]);
            return;
        }

        var ours = protocol + " " + viaName;
        head.Add("via", noPrior ? ours : HeaderRules.CombineLines(prior) + ", " + ours);
    }

    /// <summary>
    /// Writes <c>upgrade:websocket</c> and <c>connection:Upgrade</c> (RFC 6455 §4.1), which a WebSocket head carries in
    /// place of the client's own hop-by-hop ones (docs/websocket-extension.md §3).
    /// </summary>
    public static void AddWebSocketUpgrade(HeadText head)
    {
        ArgumentNullException.ThrowIfNull(head);
        head.Add("upgrade", "websocket");
        head.Add("connection", "Upgrade");
    }
}
