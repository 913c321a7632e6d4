using System.Net;
using System.Net.WebSockets;
using System.Text;
using Putsh.Router.Tests.V1;
using Putsh.Router.Tests.V3;
using Putsh.Tests.Common;
using Xunit.Abstractions;

namespace Putsh.Router.Tests.Proxy;

/// <summary>
/// A request that may have reached its connector is never sent again; one that provably did not (its connector closed
/// the socket as idle as the request crossed, or lost it without acknowledging a head it acknowledges on receipt) is
/// sent once more when it is idempotent and has no body. Hand-driven connector sockets decide exactly when each
/// socket dies. (A head that could not be written at all: <see cref="UnsentRetryTests"/>.)
/// </summary>
public sealed class UnansweredRetryTests(ITestOutputHelper output)
{
    private static async Task RespondV3Async(FakeV3Connector connector, int id, string body)
    {
        await connector.SendAsync(V3Bytes.HeaderMessage(id, 0x04, $"HTTP/1.1 200 OK\ncontent-length:{body.Length}\n"));
        await connector.SendAsync(V3Bytes.DataMessage(id, 0x01, Encoding.ASCII.GetBytes(body)));
    }

    private static async Task<V3Message> ExpectHeaderAsync(FakeV3Connector connector, string startsWith)
    {
        while (true)
        {
            var frame = await connector.ReceiveFrameAsync();
            if (frame.Type == V3Bytes.Header)
            {
                Assert.StartsWith(startsWith, frame.Text, StringComparison.Ordinal);
                return frame;
            }
        }
    }

    [Theory]
    [InlineData("POST with a body")]
    [InlineData("GET already acknowledged")]
    [InlineData("GET with a head begun")]
    public async Task V3_a_request_that_may_have_reached_the_connector_is_never_sent_again(string what)
    {
        await using var router = await TestRouter.StartAsync(output);
        await using var first = await FakeV3Connector.ConnectAndWaitAsync(router, "svc", instanceId: "first");
        using var request = what.StartsWith("POST", StringComparison.Ordinal)
            ? new HttpRequestMessage(HttpMethod.Post, "/svc/pay") { Content = new StringContent("amount=10") }
            : new HttpRequestMessage(HttpMethod.Get, "/svc/pay");
        var call = router.Client.SendAsync(request);
        var head = await ExpectHeaderAsync(first, request.Method.Method + " /svc/pay ");
        if (what == "GET already acknowledged")
        {
            await first.SendAsync(V3Bytes.WindowUpdateMessage(head.Id, head.Payload.Length));
        }
        else if (what == "GET with a head begun")
        {
            await first.SendAsync(V3Bytes.HeaderMessage(head.Id, 0x00, "HTTP/1.1 200 OK\n"));
        }

        await using var second = await FakeV3Connector.ConnectAndWaitAsync(router, "svc", instanceId: "second");

        // Lost without a close frame, after what was sent above: a reset here could discard the acknowledgement or the
        // head piece before the router read it, and the router would then rightly send the request again.
        first.LoseAfterSent();

        using var response = await call.DefaultTimeout();
        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);

        // The next request is the first thing the second socket ever sees: the lost one did not go there.
        var next = router.Client.GetAsync("/svc/next");
        var nextHead = await ExpectHeaderAsync(second, "GET /svc/next ");
        Assert.Equal(1, nextHead.Id);
        await RespondV3Async(second, nextHead.Id, "next");
        using var nextResponse = await next.DefaultTimeout();
        Assert.Equal("next", await nextResponse.Content.ReadAsStringAsync().DefaultTimeout());
    }

    [Theory]
    [InlineData(null)] // a plain Cranker connector
    [InlineData("flow-window=262144, no-response-head-ack")] // a putsh connector's default
    public async Task V3_with_head_acknowledgements_a_GET_whose_socket_is_lost_before_its_head_was_acknowledged_goes_to_another_socket(string? extensions)
    {
        await using var router = await TestRouter.StartAsync(output);
        await using var first = await FakeV3Connector.ConnectAndWaitAsync(router, "svc", instanceId: "first", extensions: extensions);
        var call = router.Client.GetAsync("/svc/item");
        await ExpectHeaderAsync(first, "GET /svc/item ");
        await using var second = await FakeV3Connector.ConnectAndWaitAsync(router, "svc", instanceId: "second");

        // Lost (no close frame) without the acknowledgement a connector sends for a head it has received.
        first.Socket.Abort();

        var retried = await ExpectHeaderAsync(second, "GET /svc/item ");
        await RespondV3Async(second, retried.Id, "from second");
        using var response = await call.DefaultTimeout();
        Assert.Equal("from second", await response.Content.ReadAsStringAsync().DefaultTimeout());
    }

    [Fact]
    public async Task V3_without_head_acknowledgements_a_GET_whose_socket_is_lost_is_not_sent_again()
    {
        await using var router = await TestRouter.StartAsync(output);
        await using var first = await FakeV3Connector.ConnectAndWaitAsync(router, "svc", instanceId: "first", extensions: "flow-window=262144, no-head-ack");
        var call = router.Client.GetAsync("/svc/item");
        await ExpectHeaderAsync(first, "GET /svc/item ");
        await using var second = await FakeV3Connector.ConnectAndWaitAsync(router, "svc", instanceId: "second");
        first.Socket.Abort();

        using var response = await call.DefaultTimeout();
        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
    }

    [Theory]
    [InlineData(WebSocketCloseStatus.NormalClosure)]
    [InlineData(WebSocketCloseStatus.EndpointUnavailable)]
    public async Task V3_a_GET_crossed_by_its_connector_closing_the_socket_as_idle_goes_to_another_socket(WebSocketCloseStatus status)
    {
        await using var router = await TestRouter.StartAsync(output);
        await using var first = await FakeV3Connector.ConnectAndWaitAsync(router, "svc", instanceId: "first");
        var call = router.Client.GetAsync("/svc/item");
        await ExpectHeaderAsync(first, "GET /svc/item ");
        await using var second = await FakeV3Connector.ConnectAndWaitAsync(router, "svc", instanceId: "second");

        // Not a word about the stream, then a close frame: the connector closed an idle socket as the request crossed.
        await first.CloseOutputAsync(status, "stopping");

        var retried = await ExpectHeaderAsync(second, "GET /svc/item ");
        await RespondV3Async(second, retried.Id, "from second");
        using var response = await call.DefaultTimeout();
        Assert.Equal("from second", await response.Content.ReadAsStringAsync().DefaultTimeout());
    }

    [Fact]
    public async Task V3_a_POST_crossed_by_a_close_is_not_sent_again()
    {
        await using var router = await TestRouter.StartAsync(output);
        await using var first = await FakeV3Connector.ConnectAndWaitAsync(router, "svc", instanceId: "first");
        using var post = new HttpRequestMessage(HttpMethod.Post, "/svc/pay") { Content = new StringContent("amount=10") };
        var call = router.Client.SendAsync(post);
        await ExpectHeaderAsync(first, "POST /svc/pay ");
        await using var second = await FakeV3Connector.ConnectAndWaitAsync(router, "svc", instanceId: "second");
        await first.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "stopping");

        using var response = await call.DefaultTimeout();
        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
    }

    [Fact]
    public async Task V1_a_GET_crossed_by_its_connector_closing_the_idle_socket_goes_to_another_socket()
    {
        await using var router = await TestRouter.StartAsync(output);
        await using var first = await FakeConnector.ConnectAsync(router.RegisterUri, "svc", "first");
        await FakeV3Connector.WaitUntilAsync(() => router.V1Pool("svc")?.IdleCount == 1, "first v1 socket idle");
        var call = router.Client.GetAsync("/svc/item");
        Assert.StartsWith("GET /svc/item ", await first.ReceiveTextAsync(), StringComparison.Ordinal);
        await using var second = await FakeConnector.ConnectAsync(router.RegisterUri, "svc", "second");
        await FakeV3Connector.WaitUntilAsync(() => router.V1Pool("svc")?.IdleCount == 1, "second v1 socket idle");
        await first.Socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "connector stop", TestTimeouts.Token()).DefaultTimeout();

        Assert.StartsWith("GET /svc/item ", await second.ReceiveTextAsync(), StringComparison.Ordinal);
        await second.SendTextAsync("HTTP/1.1 200 OK\ncontent-length:6\n");
        await second.SendBinaryAsync("second"u8.ToArray());
        await second.Socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "", TestTimeouts.Token()).DefaultTimeout();
        using var response = await call.DefaultTimeout();
        Assert.Equal("second", await response.Content.ReadAsStringAsync().DefaultTimeout());
    }

    [Theory]
    [InlineData("GET")]
    [InlineData("POST")]
    public async Task V1_a_request_whose_socket_dies_after_its_head_went_out_is_never_sent_again(string method)
    {
        await using var router = await TestRouter.StartAsync(output);
        await using var first = await FakeConnector.ConnectAsync(router.RegisterUri, "svc", "first");
        await FakeV3Connector.WaitUntilAsync(() => router.V1Pool("svc")?.IdleCount == 1, "first v1 socket idle");

        using var request = method == "POST" ? new HttpRequestMessage(HttpMethod.Post, "/svc/pay") { Content = new StringContent("amount=10") } : new HttpRequestMessage(HttpMethod.Get, "/svc/pay");
        var call = router.Client.SendAsync(request);
        Assert.StartsWith(method + " /svc/pay ", await first.ReceiveTextAsync(), StringComparison.Ordinal);
        await using var second = await FakeConnector.ConnectAsync(router.RegisterUri, "svc", "second");
        await FakeV3Connector.WaitUntilAsync(() => router.V1Pool("svc")?.IdleCount == 1, "second v1 socket idle");
        first.Socket.Abort();

        using var response = await call.DefaultTimeout();
        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
        Assert.Equal(1, router.V1Pool("svc")!.IdleCount); // the second socket was never given the request
    }
}
