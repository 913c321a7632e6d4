using System.Net;
using Putsh.Protocol.Headers;

namespace Putsh.Protocol.Tests;

/// <summary>
/// The header rules of both directions (<see cref="HeaderRules"/>, <see cref="RequestHeaderRules"/>,
/// <see cref="ResponseHeaderRules"/>), one case per rule, each side's question asked as its call site asks it.
/// </summary>
public class HeaderRulesTests
{
    // ---- the shared hop rule (RFC 9110 §7.6.1) ----

    [Theory]
    [InlineData("connection")]
    [InlineData("keep-alive")]
    [InlineData("Transfer-Encoding")]
    [InlineData("TE")]
    [InlineData("trailer")]
    [InlineData("Upgrade")]
    [InlineData("proxy-authorization")]
    [InlineData("proxy-authenticate")]
    [InlineData("Proxy-Connection")]
    [InlineData("http2-settings")]
    public void Each_hop_by_hop_name_is_dropped_on_all_four_sides_without_a_connection_header(string name)
    {
        Assert.True(HeaderRules.IsHopByHop(name));
        Assert.True(HeaderRules.IsDroppedAtHop(name, null));
        Assert.True(RequestHeaderRules.IsDroppedByRouter(name, null, traced: false, keepHost: true, webSocket: false));
        Assert.True(RequestHeaderRules.IsDroppedByConnector(name, null, traced: false));
        Assert.True(RequestHeaderRules.IsDroppedFromBackendWebSocket(name, "v", null));
        Assert.True(ResponseHeaderRules.IsDroppedByConnector(name, null));
        Assert.True(ResponseHeaderRules.IsDroppedByRouter(name, null));
    }

    [Theory]
    [InlineData("content-length")]
    [InlineData("Cookie")]
    [InlineData("authorization")]
    [InlineData("accept-encoding")]
    [InlineData("user-agent")]
    [InlineData("x-custom")]
    public void End_to_end_names_pass_the_hop_rule(string name)
    {
        Assert.False(HeaderRules.IsHopByHop(name));
        Assert.False(HeaderRules.IsDroppedAtHop(name, "keep-alive, close"));
        Assert.False(RequestHeaderRules.IsDroppedByRouter(name, "keep-alive", traced: false, keepHost: true, webSocket: false));
        Assert.False(RequestHeaderRules.IsDroppedByConnector(name, "keep-alive", traced: false));
        Assert.False(ResponseHeaderRules.IsDroppedByConnector(name, "keep-alive"));
        Assert.False(ResponseHeaderRules.IsDroppedByRouter(name, "keep-alive"));
    }

    [Fact]
    public void A_nominated_header_is_dropped_in_both_directions_on_both_sides()
    {
        const string Connection = "keep-alive , X-Hop,,close";

        Assert.True(RequestHeaderRules.IsDroppedByRouter("x-hop", Connection, traced: false, keepHost: true, webSocket: false));
        Assert.True(RequestHeaderRules.IsDroppedByConnector("X-HOP", Connection, traced: false));
        Assert.True(RequestHeaderRules.IsDroppedFromBackendWebSocket("x-hop", "v", Connection));
        Assert.True(ResponseHeaderRules.IsDroppedByConnector("X-Hop", Connection));
        Assert.True(ResponseHeaderRules.IsDroppedByRouter("x-hop", Connection));

        // Only whole tokens count.
        Assert.False(RequestHeaderRules.IsDroppedByRouter("x-ho", Connection, traced: false, keepHost: true, webSocket: false));
        Assert.False(RequestHeaderRules.IsDroppedByConnector("x-hop-2", Connection, traced: false));
        Assert.False(ResponseHeaderRules.IsDroppedByConnector("hop", Connection));
        Assert.False(ResponseHeaderRules.IsDroppedByRouter("x-hop,close", Connection));
    }

    [Theory]
    [InlineData("x-b", "x-a, x-b", true)]
    [InlineData("X-B", " x-b ", true)]
    [InlineData("x-b", "x-a,x-bb", false)]
    [InlineData("x-b", "", false)]
    [InlineData("", "x-a,,x-b", false)]
    public void IsNominated_matches_whole_trimmed_tokens_ignoring_case(string name, string connection, bool expected)
    {
        Assert.Equal(expected, HeaderRules.IsNominated(name, connection));
        Assert.Equal(expected, HopByHopHeaders.IsNominated(connection, name));
    }

    // ---- reading the Connection field ----

    [Fact]
    public void The_connection_field_of_a_head_is_its_one_line_itself_or_its_lines_combined()
    {
        var one = "keep-alive, x-a";
        Assert.Same(one, HeaderRules.ConnectionOf([new("x", "1"), new("Connection", one)]));
        Assert.Null(HeaderRules.ConnectionOf([new("x", "1")]));

        var several = HeaderRules.ConnectionOf([new("connection", "x-a"), new("x-b", "1"), new("Connection", "x-b")]);
        Assert.Equal("x-a, x-b", several);
        Assert.True(HeaderRules.IsDroppedAtHop("x-a", several));
        Assert.True(HeaderRules.IsDroppedAtHop("x-b", several));
    }

    [Fact]
    public void The_connection_field_of_an_httpclient_response_names_the_headers_of_every_line()
    {
        using var response = new HttpResponseMessage(HttpStatusCode.OK);
        Assert.Null(HeaderRules.ConnectionOf(response.Headers.NonValidated));

        response.Headers.TryAddWithoutValidation("Connection", "x-a");
        Assert.Equal("x-a", HeaderRules.ConnectionOf(response.Headers.NonValidated));

        response.Headers.TryAddWithoutValidation("Connection", "keep-alive, X-B");
        var connection = HeaderRules.ConnectionOf(response.Headers.NonValidated);
        Assert.True(ResponseHeaderRules.IsDroppedByConnector("x-a", connection));
        Assert.True(ResponseHeaderRules.IsDroppedByConnector("x-b", connection));
        Assert.False(ResponseHeaderRules.IsDroppedByConnector("x-c", connection));
    }

    [Fact]
    public void CombineLines_gives_what_string_join_gives_and_one_line_itself()
    {
        var line = "a";
        Assert.Null(HeaderRules.CombineLines(Array.Empty<string?>()));
        Assert.Same(line, HeaderRules.CombineLines(new string?[] { line }));
        Assert.Equal(string.Join(", ", "a", null, "b"), HeaderRules.CombineLines(new string?[] { "a", null, "b" }));
    }

    // ---- expect (RFC 9110 §10.1.1) ----

    [Fact]
    public void Expect_is_answered_by_the_router_and_never_sent_on_by_the_connector()
    {
        Assert.True(RequestHeaderRules.IsExpect("Expect"));
        Assert.True(RequestHeaderRules.IsDroppedByRouter("Expect", null, traced: false, keepHost: true, webSocket: false));
        Assert.True(RequestHeaderRules.IsDroppedByConnector("expect", null, traced: false));
        Assert.True(RequestHeaderRules.IsDroppedFromBackendWebSocket("expect", "100-continue", null));
    }

    // ---- what the router regenerates (RFC 9110 §7.6.3, RFC 7239) ----

    [Theory]
    [InlineData("Forwarded")]
    [InlineData("Via")]
    [InlineData("x-forwarded-by")]
    [InlineData("X-Forwarded-For")]
    [InlineData("x-forwarded-host")]
    [InlineData("x-forwarded-proto")]
    [InlineData("x-forwarded-port")]
    [InlineData("x-forwarded-server")]
    public void Forwarding_fields_are_regenerated_by_the_router_and_passed_on_by_the_connector(string name)
    {
        Assert.True(RequestHeaderRules.IsRegeneratedByRouter(name));
        Assert.True(RequestHeaderRules.IsDroppedByRouter(name, null, traced: false, keepHost: true, webSocket: false));

        // The router's own via and forwarded lines reach the target (§2.6), on a WebSocket too.
        Assert.False(RequestHeaderRules.IsDroppedByConnector(name, null, traced: false));
        Assert.False(RequestHeaderRules.IsDroppedFromBackendWebSocket(name, "v", null));
    }

    // ---- host ----

    [Fact]
    public void Host_passes_the_router_only_when_kept_and_is_left_to_the_connector_to_place()
    {
        Assert.True(RequestHeaderRules.IsDroppedByRouter("Host", null, traced: false, keepHost: false, webSocket: false));
        Assert.False(RequestHeaderRules.IsDroppedByRouter("Host", null, traced: false, keepHost: true, webSocket: false));
        Assert.True(RequestHeaderRules.IsHost("host"));
        Assert.False(RequestHeaderRules.IsDroppedByConnector("host", null, traced: false));
    }

    // ---- pseudo-headers (§2.1) ----

    [Theory]
    [InlineData(":authority")]
    [InlineData(":path")]
    [InlineData("")]
    public void Pseudo_headers_never_reach_the_head(string name)
    {
        Assert.True(RequestHeaderRules.IsPseudoHeader(name));
        Assert.True(RequestHeaderRules.IsDroppedByRouter(name, null, traced: false, keepHost: true, webSocket: false));
    }

    // ---- trace context (docs/tracing.md) ----

    [Theory]
    [InlineData("traceparent")]
    [InlineData("TraceState")]
    [InlineData("baggage")]
    [InlineData("Request-Id")]
    [InlineData("correlation-context")]
    public void Trace_context_is_dropped_only_where_a_span_is_current(string name)
    {
        Assert.True(RequestHeaderRules.IsTraceContext(name));
        Assert.True(RequestHeaderRules.IsDroppedByRouter(name, null, traced: true, keepHost: true, webSocket: false));
        Assert.True(RequestHeaderRules.IsDroppedByConnector(name, null, traced: true));
        Assert.False(RequestHeaderRules.IsDroppedByRouter(name, null, traced: false, keepHost: true, webSocket: false));
        Assert.False(RequestHeaderRules.IsDroppedByConnector(name, null, traced: false));
    }

    [Fact]
    public void Other_headers_are_not_trace_context()
    {
        Assert.False(RequestHeaderRules.IsTraceContext("x-request-id"));
        Assert.False(RequestHeaderRules.IsDroppedByConnector("x-request-id", null, traced: true));
    }

    // ---- server (§2.5) ----

    [Fact]
    public void Server_is_dropped_on_the_way_to_the_client_only()
    {
        Assert.True(ResponseHeaderRules.IsServer("Server"));
        Assert.True(ResponseHeaderRules.IsDroppedByRouter("Server", null));
        Assert.False(ResponseHeaderRules.IsDroppedByConnector("server", null));
        Assert.False(RequestHeaderRules.IsDroppedByRouter("server", null, traced: false, keepHost: true, webSocket: false));
    }

    // ---- content-length (RFC 9110 §8.6) ----

    [Theory]
    [InlineData("5", true, 5L)]
    [InlineData("0", true, 0L)]
    [InlineData("9223372036854775807", true, long.MaxValue)]
    [InlineData("-1", false, 0L)]
    [InlineData("5, 5", false, 0L)]
    [InlineData("abc", false, 0L)]
    [InlineData("", false, 0L)]
    [InlineData(null, false, 0L)]
    public void Content_length_is_a_non_negative_number(string? value, bool ok, long expected)
    {
        Assert.Equal(ok, HeaderRules.TryParseContentLength(value, out var length));
        if (ok)
        {
            Assert.Equal(expected, length);
        }
    }

    [Fact]
    public void Content_length_passes_every_drop_test_to_be_placed_by_the_caller()
    {
        Assert.True(HeaderRules.IsContentLength("Content-Length"));
        Assert.False(HeaderRules.IsContentLength("content-type"));
        Assert.False(RequestHeaderRules.IsDroppedByRouter("Content-Length", null, traced: false, keepHost: true, webSocket: false));
        Assert.False(RequestHeaderRules.IsDroppedByConnector("content-length", null, traced: false));
        Assert.False(ResponseHeaderRules.IsDroppedByConnector("content-length", null));
        Assert.False(ResponseHeaderRules.IsDroppedByRouter("content-length", null));
    }

    // ---- WebSocket heads (RFC 6455 §4.1, §11.3) ----

    [Fact]
    public void A_websocket_head_keeps_protocol_and_version_and_drops_key_and_extensions()
    {
        Assert.True(RequestHeaderRules.IsDroppedByRouter("Sec-WebSocket-Key", null, traced: false, keepHost: true, webSocket: true));
        Assert.True(RequestHeaderRules.IsDroppedByRouter("sec-websocket-extensions", null, traced: false, keepHost: true, webSocket: true));
        Assert.False(RequestHeaderRules.IsDroppedByRouter("Sec-WebSocket-Protocol", "Upgrade", traced: false, keepHost: true, webSocket: true));
        Assert.False(RequestHeaderRules.IsDroppedByRouter("sec-websocket-version", "Upgrade", traced: false, keepHost: true, webSocket: true));

        // The client's own upgrade and connection are hop-by-hop; the head carries the router's.
        Assert.True(RequestHeaderRules.IsDroppedByRouter("Upgrade", "Upgrade", traced: false, keepHost: true, webSocket: true));
        Assert.True(RequestHeaderRules.IsDroppedByRouter("Connection", "Upgrade", traced: false, keepHost: true, webSocket: true));
        var head = HeadText.ForRequest("GET", "/ws");
        RequestHeaderRules.AddWebSocketUpgrade(head);
        Assert.Equal("GET /ws HTTP/1.1\nupgrade:websocket\nconnection:Upgrade\n\n", head.ToRequestString(null));
    }

    [Fact]
    public void An_ordinary_head_keeps_the_websocket_fields_as_any_other()
    {
        // With WebSockets off, a handshake is forwarded as an ordinary request (docs/websocket-extension.md §2).
        Assert.False(RequestHeaderRules.IsDroppedByRouter("sec-websocket-key", null, traced: false, keepHost: true, webSocket: false));
        Assert.False(RequestHeaderRules.IsDroppedByRouter("sec-websocket-extensions", null, traced: false, keepHost: true, webSocket: false));
    }

    [Theory]
    [InlineData("sec-websocket-version", "13")]
    [InlineData("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")]
    [InlineData("sec-websocket-extensions", "permessage-deflate")]
    [InlineData("content-type", "text/plain")]
    [InlineData("Content-Length", "0")]
    [InlineData("expect", "100-continue")]
    [InlineData("x-custom", "a\r\nx-injected: 1")]
    [InlineData("x-custom", "a\nb")]
    public void The_connectors_backend_handshake_leaves_out_handshake_body_and_unsafe_fields(string name, string value)
    {
        Assert.True(RequestHeaderRules.IsDroppedFromBackendWebSocket(name, value, "Upgrade"));
    }

    [Theory]
    [InlineData("cookie", "a=1; b=2")]
    [InlineData("authorization", "Bearer x")]
    [InlineData("origin", "https://shop.example.com")]
    [InlineData("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")]
    public void The_connectors_backend_handshake_keeps_end_to_end_fields(string name, string value)
    {
        Assert.False(RequestHeaderRules.IsDroppedFromBackendWebSocket(name, value, "Upgrade"));
    }

    [Fact]
    public void Subprotocols_are_recognised_for_the_websocket_client()
    {
        Assert.True(RequestHeaderRules.IsSubprotocols("Sec-WebSocket-Protocol"));
        Assert.False(RequestHeaderRules.IsSubprotocols("sec-websocket-version"));
        Assert.True(RequestHeaderRules.IsWebSocketHandshakeField("Sec-WebSocket-Accept"));
        Assert.True(RequestHeaderRules.IsContentField("Content-Encoding"));
    }

    // ---- what the router writes: cookie (RFC 6265 §5.4) and via (RFC 9110 §7.6.3) ----

    [Fact]
    public void Cookie_crumbs_become_one_line_and_one_cookie_stays_as_it_is()
    {
        var head = HeadText.ForRequest("GET", "/");
        RequestHeaderRules.AddCookie(head, new string?[] { "a=1", "b=2", "c=3" });
        RequestHeaderRules.AddCookie(head, new string?[] { "d=4" });
        Assert.True(RequestHeaderRules.IsCookie("Cookie"));

        Assert.Equal("GET / HTTP/1.1\ncookie:a=1; b=2; c=3\ncookie:d=4\n\n", head.ToRequestString(null));
    }

    [Fact]
    public void Via_is_one_line_with_the_prior_values_first()
    {
        Span<char> buffer = stackalloc char[256];
        var head = HeadText.ForRequest("GET", "/");
        RequestHeaderRules.AddVia(head, Array.Empty<string?>(), "HTTP/2", "putsh", buffer);
        RequestHeaderRules.AddVia(head, new string?[] { "" }, "HTTP/1.1", "putsh", buffer);
        RequestHeaderRules.AddVia(head, new string?[] { "1.1 edge", "1.0 cdn" }, "HTTP/1.1", "r1", buffer);

        Assert.Equal("GET / HTTP/1.1\nvia:HTTP/2 putsh\nvia:HTTP/1.1 putsh\nvia:1.1 edge, 1.0 cdn, HTTP/1.1 r1\n\n", head.ToRequestString(null));
    }

    [Fact]
    public void Via_longer_than_the_buffer_takes_the_string_path_with_the_same_text()
    {
        Span<char> buffer = stackalloc char[8];
        var head = HeadText.ForRequest("GET", "/");
        RequestHeaderRules.AddVia(head, Array.Empty<string?>(), "HTTP/1.1", "a-long-via-name", buffer);

        Assert.Equal("GET / HTTP/1.1\nvia:HTTP/1.1 a-long-via-name\n\n", head.ToRequestString(null));
    }

    [Theory]
    [InlineData("plain", true)]
    [InlineData("", true)]
    [InlineData("a\rb", false)]
    [InlineData("a\nb", false)]
    public void A_value_is_safe_without_cr_or_lf(string value, bool expected) =>
        Assert.Equal(expected, HeaderRules.IsSafeValue(value));
}
