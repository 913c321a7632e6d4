using System.Net;
using Putsh.Router.Tests.V3;
using Putsh.Tests.Common;
using Xunit.Abstractions;

namespace Putsh.Router.Tests.Routing;

/// <summary>How a cranker_3.0 route picks a socket (<see cref="RouterOptions.LoadBalancing"/>), against hand-driven connectors.</summary>
public sealed class LoadBalancingTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Least_requests_sends_nothing_more_to_an_instance_busy_with_a_request_while_another_is_idle()
    {
        await using var router = await TestRouter.StartAsync(output);
        await using var a = await FakeV3Connector.ConnectAndWaitAsync(router, "svc", instanceId: "a");
        await using var b = await FakeV3Connector.ConnectAndWaitAsync(router, "svc", instanceId: "b");

        // The first request goes to one of them and stays unanswered there.
        var held = router.Client.GetAsync("/svc/held");
        var (busy, idle) = await FirstToHearAsync(a, b);
        await TakeHeadAsync(busy);

        for (var i = 0; i < 5; i++)
        {
            var request = router.Client.GetAsync("/svc/next");
            var id = await TakeHeadAsync(idle);
            await idle.SendAsync(V3Bytes.HeaderMessage(id, 0x05, "HTTP/1.1 204 No Content\n"));
            using var response = await request.DefaultTimeout();
            Assert.Equal(HttpStatusCode.NoContent, response.StatusCode);
        }

        // Only now does the busy one answer; it was sent nothing else meanwhile.
        Assert.False(busy.TryReceive(out var extra), $"the busy instance was sent {extra}");
        await busy.SendAsync(V3Bytes.HeaderMessage(1, 0x05, "HTTP/1.1 204 No Content\n"));
        using var first = await held.DefaultTimeout();
        Assert.Equal(HttpStatusCode.NoContent, first.StatusCode);
    }

    [Fact]
    public async Task Round_robin_takes_each_socket_in_turn_busy_or_not()
    {
        await using var router = await TestRouter.StartAsync(output, o => o.LoadBalancing = "round-robin");
        await using var a = await FakeV3Connector.ConnectAndWaitAsync(router, "svc", instanceId: "a");
        await using var b = await FakeV3Connector.ConnectAndWaitAsync(router, "svc", instanceId: "b");

        var held = router.Client.GetAsync("/svc/held");
        var (busy, idle) = await FirstToHearAsync(a, b);
        await TakeHeadAsync(busy);

        var second = router.Client.GetAsync("/svc/second");
        var id = await TakeHeadAsync(idle);
        await idle.SendAsync(V3Bytes.HeaderMessage(id, 0x05, "HTTP/1.1 204 No Content\n"));
        (await second.DefaultTimeout()).Dispose();

        // The third is the busy one's turn again.
        var third = router.Client.GetAsync("/svc/third");
        Assert.Equal(2, await TakeHeadAsync(busy));
        await busy.SendAsync(V3Bytes.HeaderMessage(1, 0x05, "HTTP/1.1 204 No Content\n"));
        await busy.SendAsync(V3Bytes.HeaderMessage(2, 0x05, "HTTP/1.1 204 No Content\n"));
        (await held.DefaultTimeout()).Dispose();
        (await third.DefaultTimeout()).Dispose();
    }

    [Fact]
    public void LoadBalancing_is_least_requests_or_round_robin()
    {
        var options = new RouterOptions { LoadBalancing = "random" };
        var error = Assert.Throws<ArgumentException>(options.Validate);
        Assert.Equal("LoadBalancing 'random' is not least-requests or round-robin.", error.Message);
    }

    /// <summary>Which of two connectors was sent the next message.</summary>
    private static async Task<(FakeV3Connector First, FakeV3Connector Other)> FirstToHearAsync(FakeV3Connector a, FakeV3Connector b)
    {
        await Task.WhenAny(a.WaitForMessageAsync(), b.WaitForMessageAsync()).DefaultTimeout();
        return a.HasPending ? (a, b) : (b, a);
    }

    /// <summary>Takes a request head and acknowledges it; returns its stream id.</summary>
    private static async Task<int> TakeHeadAsync(FakeV3Connector connector)
    {
        var head = await connector.ReceiveFrameAsync(V3Bytes.Header);
        await connector.SendAsync(V3Bytes.WindowUpdateMessage(head.Id, head.Payload.Length));
        return head.Id;
    }
}
