using System.Net;
using System.Net.WebSockets;
using Microsoft.Extensions.Time.Testing;
using Putsh.Router.Tests.V1;
using Putsh.Router.Tests.V3;
using Putsh.Tests.Common;
using Xunit.Abstractions;

namespace Putsh.Router.Tests.Proxy;

/// <summary>
/// A connector that has gone quiet (frozen, or behind a half-open path) loses its share of new requests once nothing,
/// not even a pong, has come from it for the pong timeout; and a response head that does not come in time is a 504.
/// Time is a fake clock; the router's pings are set far apart so that none is sent while a test runs.
/// </summary>
public sealed class SilentConnectorTests(ITestOutputHelper output)
{
    private static void Quiet(RouterOptions o)
    {
        o.PingInterval = TimeSpan.FromMinutes(10);
        o.PongTimeout = TimeSpan.FromSeconds(15);
    }

    [Fact]
    public async Task V3_requests_pass_over_a_socket_whose_connector_has_been_silent_past_the_pong_timeout()
    {
        var time = new FakeTimeProvider();
        await using var router = await TestRouter.StartAsync(output, Quiet, time: time);
        await using var silent = await FakeV3Connector.ConnectAndWaitAsync(router, "svc", instanceId: "silent");
        time.Advance(TimeSpan.FromSeconds(16));
        await using var alive = await FakeV3Connector.ConnectAndWaitAsync(router, "svc", instanceId: "alive");

        // Round-robin would give the silent socket two of these four.
        for (var i = 0; i < 4; i++)
        {
            var call = router.Client.GetAsync($"/svc/{i}");
            var head = await alive.ReceiveFrameAsync(V3Bytes.Header);
            Assert.StartsWith($"GET /svc/{i} ", head.Text, StringComparison.Ordinal);
            await alive.SendAsync(V3Bytes.HeaderMessage(head.Id, 0x04, "HTTP/1.1 200 OK\ncontent-length:2\n"));
            await alive.SendAsync(V3Bytes.DataMessage(head.Id, 0x01, "ok"u8));
            using var response = await call.DefaultTimeout();
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        // Silent is not closed: it may only be slow. A word from it puts it back in turn.
        Assert.Equal(2, FakeV3Connector.V3Count(router, "*", "svc"));
    }

    [Fact]
    public async Task V3_with_every_socket_silent_a_request_gets_503_at_once_rather_than_hanging()
    {
        var time = new FakeTimeProvider();
        await using var router = await TestRouter.StartAsync(output, Quiet, time: time);
        await using var silent = await FakeV3Connector.ConnectAndWaitAsync(router, "svc");
        time.Advance(TimeSpan.FromSeconds(16));

        using var response = await router.Client.GetAsync("/svc/x").DefaultTimeout();
        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
    }

    [Fact]
    public async Task V1_an_idle_socket_whose_connector_has_been_silent_is_dropped_and_the_request_goes_to_another()
    {
        var time = new FakeTimeProvider();
        await using var router = await TestRouter.StartAsync(output, Quiet, time: time);
        await using var silent = await FakeConnector.ConnectAsync(router.RegisterUri, "svc", "silent");
        await FakeV3Connector.WaitUntilAsync(() => router.V1Pool("svc")?.IdleCount == 1, "silent socket idle");
        time.Advance(TimeSpan.FromSeconds(16));
        await using var alive = await FakeConnector.ConnectAsync(router.RegisterUri, "svc", "alive");
        await FakeV3Connector.WaitUntilAsync(() => router.V1Pool("svc")?.IdleCount == 2, "alive socket idle");

        var call = router.Client.GetAsync("/svc/x");
        Assert.StartsWith("GET /svc/x ", await alive.ReceiveTextAsync(), StringComparison.Ordinal);
        await alive.SendTextAsync("HTTP/1.1 200 OK\ncontent-length:2\n");
        await alive.SendBinaryAsync("ok"u8.ToArray());
        await alive.Socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "", TestTimeouts.Token()).DefaultTimeout();
        using var response = await call.DefaultTimeout();
        Assert.Equal("ok", await response.Content.ReadAsStringAsync().DefaultTimeout());

        // The silent socket was let go, not kept for later.
        await Assert.ThrowsAnyAsync<WebSocketException>(() => silent.ReceiveAsync());
    }

    [Fact]
    public async Task V3_a_response_head_that_does_not_come_within_the_response_head_timeout_is_a_504_and_the_stream_is_reset()
    {
        var time = new FakeTimeProvider();
        await using var router = await TestRouter.StartAsync(output, o => { Quiet(o); o.PongTimeout = TimeSpan.FromHours(1); o.ResponseHeadTimeout = TimeSpan.FromSeconds(5); }, time: time);
        await using var connector = await FakeV3Connector.ConnectAndWaitAsync(router, "svc");
        var call = router.Client.GetAsync("/svc/slow");
        var head = await connector.ReceiveFrameAsync(V3Bytes.Header);

        time.Advance(TimeSpan.FromSeconds(5));
        using var response = await call.DefaultTimeout();
        Assert.Equal(HttpStatusCode.GatewayTimeout, response.StatusCode);
        Assert.Equal(head.Id, (await connector.ReceiveFrameAsync(V3Bytes.Rst)).Id);
    }

    [Fact]
    public async Task V1_a_response_head_that_does_not_come_within_the_response_head_timeout_is_a_504_and_the_socket_closed_with_1001()
    {
        var time = new FakeTimeProvider();
        await using var router = await TestRouter.StartAsync(output, o => { Quiet(o); o.PongTimeout = TimeSpan.FromHours(1); o.ResponseHeadTimeout = TimeSpan.FromSeconds(5); }, time: time);
        await using var connector = await FakeConnector.ConnectAsync(router.RegisterUri, "svc");
        await FakeV3Connector.WaitUntilAsync(() => router.V1Pool("svc")?.IdleCount == 1, "v1 socket idle");
        var call = router.Client.GetAsync("/svc/slow");
        await connector.ReceiveTextAsync();

        time.Advance(TimeSpan.FromSeconds(5));
        var (type, _) = await connector.ReceiveAsync();
        Assert.Equal(WebSocketMessageType.Close, type);
        Assert.Equal(WebSocketCloseStatus.EndpointUnavailable, connector.Socket.CloseStatus);
        await connector.Socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "", TestTimeouts.Token()).DefaultTimeout();
        using var response = await call.DefaultTimeout();
        Assert.Equal(HttpStatusCode.GatewayTimeout, response.StatusCode);
    }
}
