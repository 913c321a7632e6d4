using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Putsh.Router.Observability;
using Putsh.Router.Tests.V3;
using Putsh.Tests.Common;
using Xunit.Abstractions;

namespace Putsh.Router.Tests.Observability;

/// <summary>The state API's content, read from a real router with real and fake connectors on it.</summary>
public sealed class StateApiTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Routes_list_each_connector_instance_with_its_sockets_extensions_and_the_route_totals()
    {
        await using var backend = await TestBackend.StartAsync(app => app.MapGet("/svc/{n}", (string n) => "hi " + n), output);
        await using var router = await TestRouter.StartAsync(output);
        var api = router.Services.GetRequiredService<StateApi>();
        await using var v3 = await TestConnector.StartAsync(router, "svc", backend, output, o =>
        {
            TestConnector.V3Only(o);
            o.ComponentName = "orders-v3";
        }, sockets: 2);
        await using var v1 = await TestConnector.StartAsync(router, "svc", backend, output, o =>
        {
            TestConnector.V1Only(o);
            o.ComponentName = "orders-v1";
        }, sockets: 2, name: "v1");
        await using var fake = await FakeV3Connector.ConnectAndWaitAsync(router, "other", instanceId: "fake-1", extensions: "websocket, flow-window=262144");

        for (var i = 0; i < 4; i++)
        {
            Assert.Equal("hi " + i, await router.Client.GetStringAsync($"/svc/{i}").DefaultTimeout());
        }

        using (var missing = await router.Client.GetAsync("/svc-not-there/x").DefaultTimeout())
        {
            Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        }

        // Totals are added as each request ends, just after its response went out.
        await Eventually.True(() => api.Routes().Routes.FirstOrDefault(r => r.Route == "svc")?.Counters.Requests == 4, "four requests on svc");
        await Eventually.True(() => api.Routes().Routes.FirstOrDefault(r => r.Route == "svc") is { SocketsIdle: >= 4 }, "svc sockets idle again");
        var state = api.Routes();
        Assert.Equal(1, state.Version);
        Assert.False(state.Draining);
        Assert.Equal(["other", "svc"], state.Routes.Select(r => r.Route));

        var svc = state.Routes.Single(r => r.Route == "svc");
        Assert.Equal((4L, 4L, 0L, 0L), (svc.Counters.Requests, svc.Counters.Status2xx, svc.Counters.Status5xx, svc.Counters.RouterErrors));
        Assert.Equal(4 * "hi 0".Length, svc.Counters.BytesSent);
        Assert.True(svc.Counters.DurationSecondsSum > 0);
        Assert.Equal(0, svc.InFlight);
        Assert.Equal(2, svc.Connectors.Count);
        var orders3 = svc.Connectors.Single(c => c.ComponentName == "orders-v3");
        Assert.Equal(("cranker_3.0", 2, 0, "127.0.0.1"), (orders3.Protocol, orders3.SocketsIdle, orders3.SocketsBusy, orders3.RemoteAddress.Split(':')[0]));
        Assert.Contains("flow-window=1048576", orders3.Extensions);
        Assert.Contains("no-response-head-ack", orders3.Extensions);
        Assert.Null(orders3.Sockets); // only in the per-instance view
        var orders1 = svc.Connectors.Single(c => c.ComponentName == "orders-v1");
        Assert.Equal("cranker_1.0", orders1.Protocol);
        Assert.Empty(orders1.Extensions);
        Assert.True(orders1.SocketsIdle >= 2);

        var other = state.Routes.Single(r => r.Route == "other");
        var instance = Assert.Single(other.Connectors);
        Assert.Equal("fake-1", instance.InstanceId);
        Assert.Equal(["websocket", "flow-window=262144"], instance.Extensions);

        var detail = api.Connector("fake-1");
        Assert.NotNull(detail);
        var socket = Assert.Single(detail.Sockets!);
        Assert.Equal(("other", "cranker_3.0", "idle", 0), (socket.Route, socket.Protocol, socket.State, socket.InFlight));
        Assert.True(socket.SilentForSeconds >= 0);
        Assert.Null(api.Connector("nobody"));
    }

    [Fact]
    public async Task A_connector_that_leaves_disappears_from_the_routes()
    {
        await using var router = await TestRouter.StartAsync(output);
        var api = router.Services.GetRequiredService<StateApi>();
        var fake = await FakeV3Connector.ConnectAndWaitAsync(router, "gone", instanceId: "leaving");
        Assert.Contains(api.Routes().Routes, r => r.Route == "gone");
        await fake.DisposeAsync();
        await Eventually.True(() => api.Routes().Routes.All(r => r.Route != "gone"), "the route gone with its only connector");
        Assert.Null(api.Connector("leaving"));
    }
}
