using System.Net;
using System.Net.WebSockets;
using System.Text;
using Putsh.Router.Tests.V1;
using Putsh.Router.Tests.V3;
using Putsh.Tests.Common;
using Xunit.Abstractions;

namespace Putsh.Router.Tests.Proxy;

/// <summary>
/// A request whose socket is lost before its connector said anything about it is sent once more on another socket
/// when it is idempotent and has no body; one the connector acknowledged in any way, or with a body, never is.
/// Hand-driven connector sockets decide exactly when each socket dies.
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
    [InlineData("drop")]
    [InlineData("going away")]
    public async Task V3_a_GET_whose_socket_dies_before_any_answer_is_served_by_another_socket(string how)
    {
        await using var router = await TestRouter.StartAsync(output);
        await using var first = await FakeV3Connector.ConnectAndWaitAsync(router, "svc", instanceId: "first");
        var call = router.Client.GetAsync("/svc/item");
        await ExpectHeaderAsync(first, "GET /svc/item ");

        await using var second = await FakeV3Connector.ConnectAndWaitAsync(router, "svc", instanceId: "second");
        if (how == "drop")
        {
            first.Socket.Abort();
        }
        else
        {
            await first.CloseOutputAsync(WebSocketCloseStatus.EndpointUnavailable, "going away");
        }

        var retried = await ExpectHeaderAsync(second, "GET /svc/item ");
        await RespondV3Async(second, retried.Id, "from second");
        using var response = await call.DefaultTimeout();
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("from second", await response.Content.ReadAsStringAsync().DefaultTimeout());
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
        first.Socket.Abort();

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

    [Fact]
    public async Task V3_is_retried_only_once()
    {
        await using var router = await TestRouter.StartAsync(output);
        await using var first = await FakeV3Connector.ConnectAndWaitAsync(router, "svc", instanceId: "first");
        var call = router.Client.GetAsync("/svc/item");
        await ExpectHeaderAsync(first, "GET /svc/item ");
        await using var second = await FakeV3Connector.ConnectAndWaitAsync(router, "svc", instanceId: "second");
        first.Socket.Abort();
        await ExpectHeaderAsync(second, "GET /svc/item ");
        await using var third = await FakeV3Connector.ConnectAndWaitAsync(router, "svc", instanceId: "third");
        second.Socket.Abort();

        using var response = await call.DefaultTimeout();
        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
    }

    [Fact]
    public async Task V1_a_GET_whose_socket_dies_before_any_answer_is_served_by_another_socket_and_a_POST_is_not()
    {
        await using var router = await TestRouter.StartAsync(output);
        await using var first = await FakeConnector.ConnectAsync(router.RegisterUri, "svc", "first");
        await FakeV3Connector.WaitUntilAsync(() => router.V1Pool("svc")?.IdleCount == 1, "first v1 socket idle");

        var call = router.Client.GetAsync("/svc/item");
        Assert.StartsWith("GET /svc/item ", await first.ReceiveTextAsync(), StringComparison.Ordinal);
        await using var second = await FakeConnector.ConnectAsync(router.RegisterUri, "svc", "second");
        await FakeV3Connector.WaitUntilAsync(() => router.V1Pool("svc")?.IdleCount == 1, "second v1 socket idle");
        first.Socket.Abort();

        Assert.StartsWith("GET /svc/item ", await second.ReceiveTextAsync(), StringComparison.Ordinal);
        await second.SendTextAsync("HTTP/1.1 200 OK\ncontent-length:6\n");
        await second.SendBinaryAsync("second"u8.ToArray());
        await second.Socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "", TestTimeouts.Token()).DefaultTimeout();
        using (var response = await call.DefaultTimeout())
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal("second", await response.Content.ReadAsStringAsync().DefaultTimeout());
        }

        await using var third = await FakeConnector.ConnectAsync(router.RegisterUri, "svc", "third");
        await FakeV3Connector.WaitUntilAsync(() => router.V1Pool("svc")?.IdleCount == 1, "third v1 socket idle");
        using var post = new HttpRequestMessage(HttpMethod.Post, "/svc/pay") { Content = new StringContent("amount=10") };
        var postCall = router.Client.SendAsync(post);
        Assert.StartsWith("POST /svc/pay ", await third.ReceiveTextAsync(), StringComparison.Ordinal);
        await using var fourth = await FakeConnector.ConnectAsync(router.RegisterUri, "svc", "fourth");
        await FakeV3Connector.WaitUntilAsync(() => router.V1Pool("svc")?.IdleCount == 1, "fourth v1 socket idle");
        third.Socket.Abort();
        using var postResponse = await postCall.DefaultTimeout();
        Assert.Equal(HttpStatusCode.BadGateway, postResponse.StatusCode);
        Assert.Equal(1, router.V1Pool("svc")!.IdleCount); // the fourth socket was never given the POST
    }
}
