using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Putsh.Cli.Commands;
using Putsh.Cli.Tests;
using Putsh.Tests.Common;
using Xunit.Abstractions;

namespace Putsh.FunctionalTests;

/// <summary>Streaming, router errors, and what happens when connectors, backends, clients and routers come and go.</summary>
public sealed class ResilienceTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Server_sent_events_arrive_before_the_response_ends()
    {
        var secondEvent = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var backend = await TestBackend.StartAsync(app => app.MapGet("/sse/stream", async (HttpContext c) =>
        {
            c.Response.ContentType = "text/event-stream";
            await c.Response.WriteAsync("data: first\n\n");
            await c.Response.Body.FlushAsync();
            await secondEvent.Task;
            await c.Response.WriteAsync("data: second\n\n");
        }), output);
        await using var router = await CliTestRouter.StartAsync(output);
        await using var connector = await TestConnector.StartAsync(router, "sse", backend, output);

        using var response = await router.Client.GetAsync("/sse/stream", HttpCompletionOption.ResponseHeadersRead).DefaultTimeout();
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType!.MediaType);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync().DefaultTimeout());

        // The backend is still holding the response open: this line can only come if it was streamed.
        Assert.Equal("data: first", await reader.ReadLineAsync().DefaultTimeout());
        Assert.False(secondEvent.Task.IsCompleted);
        secondEvent.SetResult();
        Assert.Equal("", await reader.ReadLineAsync().DefaultTimeout());
        Assert.Equal("data: second", await reader.ReadLineAsync().DefaultTimeout());
    }

    [Fact]
    public async Task A_known_route_without_sockets_waits_then_503()
    {
        await using var backend = await TestBackend.StartAsync(app => Backends.Map(app, "/gone"), output);
        await using var router = await CliTestRouter.StartAsync(output, o => o.SocketAcquireTimeout = TimeSpan.FromMilliseconds(300));
        var connector = await TestConnector.StartAsync(router, "gone", backend, output, TestConnector.V1Only);
        Assert.True(await connector.StopAsync().DefaultTimeout());
        await connector.DisposeAsync();

        using var response = await router.Client.GetAsync("/gone/method").DefaultTimeout();
        var body = await response.Content.ReadAsStringAsync().DefaultTimeout();

        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Contains("No cranker connectors available within 300 ms", body);
        Assert.Equal(0, backend.RequestCount);
    }

    [Fact]
    public async Task Target_down_gives_502_and_the_connector_keeps_serving()
    {
        var deadPort = FreePort();
        await using var router = await CliTestRouter.StartAsync(output);
        await using var connector = await TestConnector.StartAsync([router.RegisterUri], "down", new Uri($"http://127.0.0.1:{deadPort}"), output, sockets: 2);

        for (var i = 0; i < 3; i++)
        {
            using var response = await router.Client.GetAsync("/down/x").DefaultTimeout();
            var body = await response.Content.ReadAsStringAsync().DefaultTimeout();
            Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
            Assert.Contains("<code>down</code> service error", body);
        }

        // The window refills after every failure: the connector is neither crashed nor wedged.
        await connector.WaitForIdleSocketsAsync(2, TestTimeouts.Token()).DefaultTimeout();
        await using var backend = await TestBackend.StartAsync(app => Backends.Map(app, "/down"), output, port: deadPort);
        using var ok = await router.Client.GetAsync("/down/method").DefaultTimeout();
        Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
    }

    [Fact]
    public async Task A_silent_connector_socket_gives_504_after_the_idle_timeout()
    {
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var backend = await TestBackend.StartAsync(app => app.MapGet("/slow/x", async () =>
        {
            await release.Task;
            return "late";
        }), output);
        await using var router = await CliTestRouter.StartAsync(output, o =>
        {
            o.IdleTimeout = TimeSpan.FromMilliseconds(300);
            o.PingInterval = TimeSpan.FromSeconds(30);
        });
        // cranker_1.0: a socket silent for the idle timeout fails its request with 504. (Over cranker_3.0 the
        // socket's liveness is the ping/pong keep-alive alone; see docs/behaviour.md.)
        await using var connector = await TestConnector.StartAsync(router, "slow", backend, output, TestConnector.V1Only);

        using var response = await router.Client.GetAsync("/slow/x").DefaultTimeout();
        release.SetResult();
        var body = await response.Content.ReadAsStringAsync().DefaultTimeout();

        Assert.Equal(HttpStatusCode.GatewayTimeout, response.StatusCode);
        Assert.Contains("<code>slow</code> service did not respond in time", body);
    }

    [Fact]
    public async Task A_slow_backend_behind_a_live_connector_is_not_timed_out()
    {
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var backend = await TestBackend.StartAsync(app => app.MapGet("/slow/x", async () =>
        {
            started.SetResult();
            await release.Task;
            return "late but fine";
        }), output);

        // Pings every 100 ms are answered by the connector, so a 1 s idle timeout never fires however slow the backend.
        await using var router = await CliTestRouter.StartAsync(output, o =>
        {
            o.IdleTimeout = TimeSpan.FromSeconds(1);
            o.PingInterval = TimeSpan.FromMilliseconds(100);
        });
        await using var connector = await TestConnector.StartAsync(router, "slow", backend, output);

        var request = router.Client.GetAsync("/slow/x");
        await started.Task.DefaultTimeout();
        var pastTimeout = Task.Delay(TimeSpan.FromSeconds(2.5));
        Assert.Same(pastTimeout, await Task.WhenAny(request, pastTimeout).DefaultTimeout());
        release.SetResult();
        using var response = await request.DefaultTimeout();
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("late but fine", await response.Content.ReadAsStringAsync().DefaultTimeout());
    }

    [Fact]
    public async Task Clients_that_leave_while_waiting_never_reach_the_backend()
    {
        await using var backend = await TestBackend.StartAsync(app => Backends.Map(app, "/wait"), output);
        await using var router = await CliTestRouter.StartAsync(output, o => o.SocketAcquireTimeout = TimeSpan.FromSeconds(20));
        var first = await TestConnector.StartAsync(router, "wait", backend, output, TestConnector.V1Only);
        Assert.True(await first.StopAsync().DefaultTimeout());
        await first.DisposeAsync();

        // Ten requests wait for a socket of the known but empty route; their clients give up.
        using var waiting = new CancellationTokenSource();
        var requests = Enumerable.Range(0, 10).Select(_ => router.Client.GetAsync("/wait/method", waiting.Token)).ToList();
        var pool = router.V1Pool("wait")!;
        await Eventually.True(() => pool.WaitingCount == 10, "ten waiting requests");
        await waiting.CancelAsync();
        foreach (var r in requests)
        {
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => r).DefaultTimeout();
        }

        await Eventually.True(() => pool.WaitingCount == 0, "the waiters to leave");

        // Sockets arriving now must sit idle, not serve the abandoned requests.
        await using var second = await TestConnector.StartAsync(router, "wait", backend, output, TestConnector.V1Only, sockets: 3);
        Assert.Equal(3, pool.IdleCount);
        Assert.Equal(0, backend.RequestCount);

        using var response = await router.Client.GetAsync("/wait/method").DefaultTimeout();
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(1, backend.RequestCount);
    }

    [Fact]
    public async Task A_killed_connector_is_dropped_and_a_restarted_one_serves()
    {
        await using var backend = await TestBackend.StartAsync(app => Backends.Map(app, "/restart"), output);
        await using var router = await CliTestRouter.StartAsync(output, o => o.SocketAcquireTimeout = TimeSpan.FromSeconds(10));
        var pool = default(Putsh.Router.Routing.V1RoutePool);
        var first = await TestConnector.StartAsync(router, "restart", backend, output, TestConnector.V1Only, sockets: 3);
        pool = router.V1Pool("restart")!;
        Assert.Equal(3, pool.IdleCount);

        // No deregistration: the sockets just die, as when the process is killed.
        await first.DisposeAsync();
        await Eventually.True(() => pool.IdleCount == 0, "the router to drop the dead sockets");

        await using var second = await TestConnector.StartAsync(router, "restart", backend, output, sockets: 3);
        for (var i = 0; i < 10; i++)
        {
            using var response = await router.Client.GetAsync("/restart/method").DefaultTimeout();
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }
    }

    [Fact]
    public async Task A_restarted_router_is_rejoined_without_intervention()
    {
        static RouterSettings Settings(int port) => new() { Listen = ["http://127.0.0.1:0"], Register = [$"http://127.0.0.1:{port}"] };
        await using var backend = await TestBackend.StartAsync(app => Backends.Map(app, "/again"), output);
        var router = await CliTestRouter.StartOnFreePortAsync(Settings, output);
        var port = router.RegisterUri.Port;
        await using var connector = await TestConnector.StartAsync([router.RegisterUri], "again", backend.Uri, output, sockets: 2);
        using (var before = await router.Client.GetAsync("/again/method").DefaultTimeout())
        {
            Assert.Equal(HttpStatusCode.OK, before.StatusCode);
        }

        await router.DisposeAsync();
        await Eventually.True(() => connector.Routers[0].ConsecutiveFailures > 0, "the connector to notice the router is gone");

        await using var restarted = await CliTestRouter.StartAsync(Settings(port), output, name: "router2");
        await connector.WaitForIdleSocketsAsync(2, TestTimeouts.Token()).DefaultTimeout();
        using var after = await restarted.Client.GetAsync("/again/method").DefaultTimeout();
        Assert.Equal(HttpStatusCode.OK, after.StatusCode);
        Assert.Equal(0, connector.Routers[0].ConsecutiveFailures);
    }

    [Fact]
    public async Task Deregistration_lets_the_request_in_flight_finish_while_new_requests_go_elsewhere()
    {
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var backendA = await TestBackend.StartAsync(app =>
        {
            app.MapGet("/drain/slow", async () =>
            {
                started.TrySetResult();
                await release.Task;
                return "A finished";
            });
            app.MapGet("/drain/who", () => "A");
        }, output);
        await using var backendB = await TestBackend.StartAsync(app => app.MapGet("/drain/who", () => "B"), output);
        await using var router = await CliTestRouter.StartAsync(output);
        await using var a = await TestConnector.StartAsync(router, "drain", backendA, output, TestConnector.V1Only, sockets: 2, name: "connectorA");

        var inFlight = router.Client.GetAsync("/drain/slow");
        await started.Task.DefaultTimeout();
        await using var b = await TestConnector.StartAsync(router, "drain", backendB, output, sockets: 2, name: "connectorB");

        var stopping = a.StopAsync();
        await Eventually.True(() => a.Routers[0].IdleSockets == 0, "connector A's idle sockets to be closed by the router");
        for (var i = 0; i < 6; i++)
        {
            Assert.Equal("B", await router.Client.GetStringAsync("/drain/who").DefaultTimeout());
        }

        Assert.False(inFlight.IsCompleted);
        Assert.False(stopping.IsCompleted);
        release.SetResult();
        using var response = await inFlight.DefaultTimeout();
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("A finished", await response.Content.ReadAsStringAsync().DefaultTimeout());
        Assert.True(await stopping.DefaultTimeout());
    }

    [Fact]
    public async Task Two_connectors_on_one_route_both_receive_traffic()
    {
        await using var backendA = await TestBackend.StartAsync(app => app.MapGet("/pair/who", () => "A"), output);
        await using var backendB = await TestBackend.StartAsync(app => app.MapGet("/pair/who", () => "B"), output);
        await using var router = await CliTestRouter.StartAsync(output);
        await using var a = await TestConnector.StartAsync(router, "pair", backendA, output, sockets: 2, name: "connectorA");
        await using var b = await TestConnector.StartAsync(router, "pair", backendB, output, sockets: 2, name: "connectorB");

        var seen = new HashSet<string>();
        for (var i = 0; i < 12; i++)
        {
            seen.Add(await router.Client.GetStringAsync("/pair/who").DefaultTimeout());
        }

        Assert.Equal(["A", "B"], seen.Order().ToArray());
    }

    [Fact]
    public async Task One_connector_serves_through_two_routers()
    {
        await using var backend = await TestBackend.StartAsync(app => Backends.Map(app, "/both"), output);
        await using var router1 = await CliTestRouter.StartAsync(output, name: "router1");
        await using var router2 = await CliTestRouter.StartAsync(output, name: "router2");
        await using var connector = await TestConnector.StartAsync([router1.RegisterUri, router2.RegisterUri], "both", backend.Uri, output, sockets: 2);

        Assert.Equal(2, connector.Routers.Count);
        Assert.StartsWith("method=GET", await router1.Client.GetStringAsync("/both/method").DefaultTimeout());
        Assert.StartsWith("method=GET", await router2.Client.GetStringAsync("/both/method").DefaultTimeout());
        Assert.Equal(2, backend.RequestCount);
    }

    [Fact]
    public async Task Registration_and_clients_can_share_one_port()
    {
        await using var backend = await TestBackend.StartAsync(app => Backends.Map(app, "/shared"), output);
        await using var router = await CliTestRouter.StartAsync(output, sharedPort: true);
        Assert.Equal(router.ClientUri.Port, router.RegisterUri.Port);
        await using var connector = await TestConnector.StartAsync(router, "shared", backend, output);

        Assert.StartsWith("method=GET", await router.Client.GetStringAsync("/shared/method").DefaultTimeout());
    }

    internal static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
