using System.Net;
using System.Net.WebSockets;
using System.Text;
using Putsh.Tests.Common;
using Xunit.Abstractions;

namespace Putsh.Router.Tests.V1;

/// <summary>The router's side of cranker_1.0, byte for byte, against a hand-driven connector socket (§4).</summary>
public sealed class RouterWireTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Request_head_body_and_end_marker_are_exact_and_the_response_comes_back()
    {
        await using var router = await TestRouter.StartAsync(output);
        await using var connector = await FakeConnector.ConnectAsync(router.RegisterUri, "my-app");
        await WaitForIdle(router, "my-app", 1);

        using var request = new HttpRequestMessage(HttpMethod.Post, "/my-app/upload?x=1") { Content = new StringContent("hello", Encoding.UTF8, "text/plain") };
        request.Content.Headers.ContentType!.CharSet = null;
        var responseTask = router.Client.SendAsync(request);

        var port = router.ClientUri.Port;
        var head = await connector.ReceiveTextAsync();
        Assert.DoesNotContain('\r', head);
        Assert.StartsWith("POST /my-app/upload?x=1 HTTP/1.1\n", head);
        Assert.EndsWith("\n\n_1", head);
        var lines = head.Split('\n')[1..^2];
        Assert.Equal(
            new[]
            {
                "Content-Length:5",
                "Content-Type:text/plain",
                $"Host:127.0.0.1:{port}",
                "via:HTTP/1.1 putsh",
                $"forwarded:by=127.0.0.1;for=127.0.0.1;host=\"127.0.0.1:{port}\";proto=http",
            }.Order(),
            lines.Order());
        Assert.Equal("via:HTTP/1.1 putsh", lines[^2]);
        Assert.StartsWith("forwarded:", lines[^1]);

        var (type, body) = await connector.ReceiveAsync();
        Assert.Equal(WebSocketMessageType.Binary, type);
        Assert.Equal("hello", Encoding.ASCII.GetString(body));
        Assert.Equal("_3", await connector.ReceiveTextAsync());

        // The §4.8 response, as jconn sends it: reason TODO, no trailing blank line.
        await connector.SendTextAsync("HTTP/1.1 200 TODO\ncontent-length:5\ncontent-type:text/plain;charset=utf-8\ndate:Tue, 03 Mar 2026 09:00:00 GMT\n");
        await connector.SendBinaryAsync("hello"u8.ToArray());
        await connector.Socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "", TestTimeouts.Token()).DefaultTimeout();

        using var response = await responseTask.DefaultTimeout();
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/plain;charset=utf-8", response.Content.Headers.NonValidated["Content-Type"].ToString());
        Assert.Equal("hello", await response.Content.ReadAsStringAsync().DefaultTimeout());
        Assert.Equal(5, response.Content.Headers.ContentLength);
        Assert.Equal("Tue, 03 Mar 2026 09:00:00 GMT", response.Headers.NonValidated["Date"].ToString());

        // The router echoes the close and never reuses the socket.
        var (closeType, _) = await connector.ReceiveAsync();
        Assert.Equal(WebSocketMessageType.Close, closeType);
    }

    [Fact]
    public async Task A_request_timed_out_by_the_router_gets_504_even_when_the_connector_answers_the_close_at_once()
    {
        await using var router = await TestRouter.StartAsync(output, o =>
        {
            o.IdleTimeout = TimeSpan.FromMilliseconds(300);
            o.PingInterval = TimeSpan.FromSeconds(30);
        });
        await using var connector = await FakeConnector.ConnectAsync(router.RegisterUri, "t");
        await WaitForIdle(router, "t", 1);

        var responseTask = router.Client.GetAsync("/t/x");
        Assert.EndsWith("\n\n_2", await connector.ReceiveTextAsync());

        // The connector stays silent; the router gives up and closes; a quick connector completes the handshake
        // with a normal close before the router would abort. It is still the router's timeout: 504, not 502.
        var (type, _) = await connector.ReceiveAsync();
        Assert.Equal(WebSocketMessageType.Close, type);
        Assert.Equal(WebSocketCloseStatus.EndpointUnavailable, connector.Socket.CloseStatus);
        await connector.Socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "", TestTimeouts.Token()).DefaultTimeout();

        using var response = await responseTask.DefaultTimeout();
        Assert.Equal(HttpStatusCode.GatewayTimeout, response.StatusCode);
    }

    [Fact]
    public async Task A_bodiless_request_ends_with_marker_2_and_no_frames()
    {
        await using var router = await TestRouter.StartAsync(output);
        await using var connector = await FakeConnector.ConnectAsync(router.RegisterUri, "r");
        await WaitForIdle(router, "r", 1);

        var responseTask = router.Client.GetAsync("/r/a%20b?q=%C3%A9&q=2");
        var head = await connector.ReceiveTextAsync();
        Assert.StartsWith("GET /r/a%20b?q=%C3%A9&q=2 HTTP/1.1\n", head);
        Assert.EndsWith("\n\n_2", head);

        await connector.SendTextAsync("HTTP/1.1 204 No Content\n");
        await connector.Socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "", TestTimeouts.Token()).DefaultTimeout();
        using var response = await responseTask.DefaultTimeout();
        Assert.Equal(HttpStatusCode.NoContent, response.StatusCode);
    }

    [Fact]
    public async Task Crlf_spaced_heads_with_a_blank_line_and_a_close_without_code_are_accepted()
    {
        await using var router = await TestRouter.StartAsync(output);
        await using var connector = await FakeConnector.ConnectRawAsync(router.RegisterUri, "lenient");
        await WaitForIdle(router, "lenient", 1);

        var responseTask = router.Client.GetAsync("/lenient/");
        await connector.ReceiveTextAsync();
        // As the Go connector writes it: CRLF, "Name: value", a real reason, and a blank line.
        await connector.SendTextAsync("HTTP/1.1 201 Created\r\nX-Thing: a b\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\nServer: backend\r\n\r\n");
        await connector.SendBinaryAsync("made"u8.ToArray());
        // The npm connector ends every response with a close that carries no status code.
        await connector.SendCloseWithoutCodeAsync();

        using var response = await responseTask.DefaultTimeout();
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        Assert.Equal("a b", response.Headers.GetValues("X-Thing").Single());
        Assert.Equal(["a=1", "b=2"], response.Headers.GetValues("Set-Cookie").ToArray());
        Assert.False(response.Headers.Contains("Server"));
        Assert.Equal("made", await response.Content.ReadAsStringAsync().DefaultTimeout());
    }

    [Fact]
    public async Task A_connector_error_before_the_head_is_502()
    {
        await using var router = await TestRouter.StartAsync(output);
        await using var connector = await FakeConnector.ConnectAsync(router.RegisterUri, "err");
        await WaitForIdle(router, "err", 1);

        var responseTask = router.Client.GetAsync("/err/x");
        await connector.ReceiveTextAsync();
        await connector.Socket.CloseOutputAsync(WebSocketCloseStatus.InternalServerError, "Target error: connection refused", TestTimeouts.Token()).DefaultTimeout();

        using var response = await responseTask.DefaultTimeout();
        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
        Assert.Contains("<h1>502 Bad Gateway</h1>", await response.Content.ReadAsStringAsync().DefaultTimeout());
    }

    [Fact]
    public async Task A_connector_error_after_the_head_aborts_the_client_response()
    {
        await using var router = await TestRouter.StartAsync(output);
        await using var connector = await FakeConnector.ConnectAsync(router.RegisterUri, "err");
        await WaitForIdle(router, "err", 1);

        var responseTask = router.Client.GetAsync("/err/x", HttpCompletionOption.ResponseHeadersRead);
        await connector.ReceiveTextAsync();
        await connector.SendTextAsync("HTTP/1.1 200 OK\ncontent-length:100\n");
        await connector.SendBinaryAsync(new byte[10]);
        using var response = await responseTask.DefaultTimeout();
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        await connector.Socket.CloseOutputAsync(WebSocketCloseStatus.InternalServerError, "Target failed mid-response", TestTimeouts.Token()).DefaultTimeout();

        // The client must see a failure, not a clean short body.
        await Assert.ThrowsAnyAsync<Exception>(() => response.Content.ReadAsByteArrayAsync()).DefaultTimeout();
    }

    [Fact]
    public async Task A_socket_dropped_without_close_before_the_head_is_502()
    {
        await using var router = await TestRouter.StartAsync(output);
        await using var connector = await FakeConnector.ConnectAsync(router.RegisterUri, "drop");
        await WaitForIdle(router, "drop", 1);

        var responseTask = router.Client.GetAsync("/drop/x");
        await connector.ReceiveTextAsync();
        connector.Socket.Abort();

        using var response = await responseTask.DefaultTimeout();
        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
    }

    [Fact]
    public async Task A_client_that_leaves_mid_response_makes_the_router_close_the_socket_with_1001()
    {
        await using var router = await TestRouter.StartAsync(output);
        await using var connector = await FakeConnector.ConnectAsync(router.RegisterUri, "gone");
        await WaitForIdle(router, "gone", 1);

        using var cts = new CancellationTokenSource();
        var responseTask = router.Client.GetAsync("/gone/x", HttpCompletionOption.ResponseHeadersRead, cts.Token);
        await connector.ReceiveTextAsync();
        await connector.SendTextAsync("HTTP/1.1 200 OK\n");
        await connector.SendBinaryAsync(new byte[100]);
        using (var response = await responseTask.DefaultTimeout())
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        // Disposing the response before its end drops the client connection.
        var (type, _) = await connector.ReceiveAsync();
        Assert.Equal(WebSocketMessageType.Close, type);
        Assert.Equal(WebSocketCloseStatus.EndpointUnavailable, connector.Socket.CloseStatus);
    }

    [Fact]
    public async Task A_message_on_an_idle_socket_is_a_protocol_error_that_closes_only_that_socket()
    {
        await using var router = await TestRouter.StartAsync(output);
        await using var bad = await FakeConnector.ConnectAsync(router.RegisterUri, "strict", "bad");
        await using var good = await FakeConnector.ConnectAsync(router.RegisterUri, "strict", "good");
        await WaitForIdle(router, "strict", 2);

        await bad.SendTextAsync("HTTP/1.1 200 OK\n");
        var (type, _) = await bad.ReceiveAsync();
        Assert.Equal(WebSocketMessageType.Close, type);
        Assert.Equal(WebSocketCloseStatus.ProtocolError, bad.Socket.CloseStatus);
        await WaitForIdle(router, "strict", 1);

        // The router is unharmed and the other socket still serves.
        var responseTask = router.Client.GetAsync("/strict/");
        await good.ReceiveTextAsync();
        await good.SendTextAsync("HTTP/1.1 200 OK\ncontent-length:0\n");
        await good.Socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "", TestTimeouts.Token()).DefaultTimeout();
        using var response = await responseTask.DefaultTimeout();
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public async Task Deregistration_closes_the_instances_idle_sockets_with_1001_and_answers_1000()
    {
        await using var router = await TestRouter.StartAsync(output);
        await using var a1 = await FakeConnector.ConnectAsync(router.RegisterUri, "dereg", "instance-a");
        await using var a2 = await FakeConnector.ConnectAsync(router.RegisterUri, "dereg", "instance-a");
        await using var b = await FakeConnector.ConnectAsync(router.RegisterUri, "dereg", "instance-b");
        await WaitForIdle(router, "dereg", 3);

        using var deregister = new ClientWebSocket();
        deregister.Options.SetRequestHeader("CrankerProtocol", "1.0");
        deregister.Options.SetRequestHeader("Route", "dereg");
        await deregister.ConnectAsync(new Uri(router.RegisterUri, "/deregister/?connectorInstanceID=instance-a&componentName=fake"), TestTimeouts.Token()).DefaultTimeout();
        var result = await deregister.ReceiveAsync(new byte[16], TestTimeouts.Token()).DefaultTimeout();
        Assert.Equal(WebSocketMessageType.Close, result.MessageType);
        Assert.Equal(WebSocketCloseStatus.NormalClosure, deregister.CloseStatus);
        Assert.Equal("Deregister complete", deregister.CloseStatusDescription);

        foreach (var socket in new[] { a1, a2 })
        {
            var (type, _) = await socket.ReceiveAsync();
            Assert.Equal(WebSocketMessageType.Close, type);
            Assert.Equal(WebSocketCloseStatus.EndpointUnavailable, socket.Socket.CloseStatus);
        }

        Assert.Equal(1, router.V1Pool("dereg")!.IdleCount);
    }

    [Theory]
    [InlineData(true, new string[0], null)]
    [InlineData(true, new[] { "cranker_1.0", "cranker_3.0" }, "cranker_1.0")]
    [InlineData(false, new[] { "cranker_1.0" }, "cranker_1.0")]
    public async Task Negotiation_accepts_the_legacy_header_or_the_subprotocol(bool legacy, string[] offered, string? expected)
    {
        await using var router = await TestRouter.StartAsync(output);
        await using var connector = await FakeConnector.ConnectAsync(router.RegisterUri, "neg", legacyHeader: legacy, subprotocols: offered);
        Assert.Equal(expected, connector.Socket.SubProtocol);
        Assert.Equal("1.0", connector.ResponseHeaders!["CrankerProtocol"].Single());
    }

    [Fact]
    public async Task A_handshake_without_any_cranker_protocol_is_refused_with_400()
    {
        await using var router = await TestRouter.StartAsync(output);
        using var socket = new ClientWebSocket();
        socket.Options.CollectHttpResponseDetails = true;
        socket.Options.SetRequestHeader("Route", "x");
        await Assert.ThrowsAsync<WebSocketException>(() => socket.ConnectAsync(new Uri(router.RegisterUri, "/register"), TestTimeouts.Token())).DefaultTimeout();
        Assert.Equal(HttpStatusCode.BadRequest, socket.HttpStatusCode);

        // A router configured for 1.0 only refuses a connector that offers nothing else.
        await using var v1Router = await TestRouter.StartAsync(output, o =>
        {
            o.Protocols.Clear();
            o.Protocols.Add("cranker_1.0");
        });
        using var v3Only = new ClientWebSocket();
        v3Only.Options.CollectHttpResponseDetails = true;
        v3Only.Options.AddSubProtocol("cranker_3.0");
        await Assert.ThrowsAsync<WebSocketException>(() => v3Only.ConnectAsync(new Uri(v1Router.RegisterUri, "/register"), TestTimeouts.Token())).DefaultTimeout();
        Assert.Equal(HttpStatusCode.BadRequest, v3Only.HttpStatusCode);
    }

    [Theory]
    [InlineData("../..")]
    [InlineData("a b")]
    [InlineData("%2e%2e")]
    [InlineData("..")]
    [InlineData("a/b")]
    public async Task A_route_name_no_first_path_segment_can_match_is_refused_with_400(string route)
    {
        await using var router = await TestRouter.StartAsync(output);
        Assert.Equal(HttpStatusCode.BadRequest, await RefusedRegistrationStatus(router, route));
        Assert.Null(router.V1Pool(route));

        // A name made of every character a segment may hold is still accepted.
        await using var connector = await FakeConnector.ConnectAsync(router.RegisterUri, "a-b_c.d~e!$&'()+,;=:@1");
        await WaitForIdle(router, "a-b_c.d~e!$&'()+,;=:@1", 1);
    }

    [Fact]
    public async Task A_response_header_the_connector_names_in_Connection_does_not_reach_the_client()
    {
        await using var router = await TestRouter.StartAsync(output);
        await using var connector = await FakeConnector.ConnectAsync(router.RegisterUri, "hop");
        await WaitForIdle(router, "hop", 1);

        var responseTask = router.Client.GetAsync("/hop/x");
        await connector.ReceiveTextAsync();
        await connector.SendTextAsync("HTTP/1.1 200 OK\nconnection:keep-alive, x-internal\nx-internal:secret\nx-public:yes\ncontent-length:2\n");
        await connector.SendBinaryAsync("ok"u8.ToArray());
        await connector.Socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "", TestTimeouts.Token()).DefaultTimeout();

        using var response = await responseTask.DefaultTimeout();
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.False(response.Headers.Contains("x-internal"));
        Assert.Equal("yes", response.Headers.NonValidated["x-public"].ToString());
        Assert.Equal("ok", await response.Content.ReadAsStringAsync().DefaultTimeout());
    }

    [Fact]
    public async Task A_multi_segment_route_is_accepted_only_when_routing_by_longest_prefix()
    {
        await using var router = await TestRouter.StartAsync(output);
        Assert.Equal(HttpStatusCode.BadRequest, await RefusedRegistrationStatus(router, "a/b"));

        await using var prefixRouter = await TestRouter.StartAsync(output, o => o.LongestPrefixRoutes = true);
        await using var connector = await FakeConnector.ConnectAsync(prefixRouter.RegisterUri, "a/b");
        await WaitForIdle(prefixRouter, "a/b", 1);
    }

    /// <summary>Offers cranker_1.0 for <paramref name="route"/>, expects the handshake to be refused, and gives its status.</summary>
    private static async Task<HttpStatusCode> RefusedRegistrationStatus(TestRouter router, string route)
    {
        using var socket = new ClientWebSocket();
        socket.Options.CollectHttpResponseDetails = true;
        socket.Options.AddSubProtocol("cranker_1.0");
        socket.Options.SetRequestHeader("Route", route);
        await Assert.ThrowsAsync<WebSocketException>(() => socket.ConnectAsync(new Uri(router.RegisterUri, "/register"), TestTimeouts.Token())).DefaultTimeout();
        return socket.HttpStatusCode;
    }

    private static async Task WaitForIdle(TestRouter router, string route, int count)
    {
        var deadline = DateTime.UtcNow + TestTimeouts.Default;
        while (router.V1Pool(route)?.IdleCount != count)
        {
            Assert.True(DateTime.UtcNow < deadline, $"route {route} never had {count} idle sockets");
            await Task.Delay(TimeSpan.FromMilliseconds(10));
        }
    }
}
