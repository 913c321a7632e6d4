using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Putsh.Tests.Common;
using Xunit.Abstractions;

namespace Putsh.Cli.Tests;

/// <summary>
/// Stopping the real executable: SIGTERM lets requests in flight finish (well past System.CommandLine's 2 s), the router
/// drains in order, a second signal ends the process at once, and the shutdown timeout bounds it all.
/// </summary>
public sealed class ShutdownTests(ITestOutputHelper output)
{
    /// <summary>Longer than the 2 s after which System.CommandLine's own signal handling used to end the process.</summary>
    private static readonly TimeSpan SlowRequest = TimeSpan.FromSeconds(4);

    private sealed class SlowBackend : IAsyncDisposable
    {
        public TaskCompletionSource Arrived { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public TaskCompletionSource Release { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public required TestBackend Backend { get; init; }

        public static async Task<SlowBackend> StartAsync(string route, ITestOutputHelper output, TimeSpan? duration)
        {
            SlowBackend? self = null;
            var backend = await TestBackend.StartAsync(app =>
            {
                app.MapGet($"/{route}/slow", async (HttpContext context) =>
                {
                    self!.Arrived.TrySetResult();
                    if (duration is { } d)
                    {
                        await Task.Delay(d);
                    }
                    else
                    {
                        await self.Release.Task.WaitAsync(context.RequestAborted);
                    }

                    return "finished";
                });
                app.MapGet($"/{route}/quick", () => "quick");
            }, output);
            self = new SlowBackend { Backend = backend };
            return self;
        }

        public async ValueTask DisposeAsync()
        {
            Release.TrySetResult();
            await Backend.DisposeAsync();
        }
    }

    [Fact]
    public async Task A_connector_given_SIGTERM_finishes_a_slow_request_in_flight_and_exits_0()
    {
        await using var backend = await SlowBackend.StartAsync("slowc", output, SlowRequest);
        await using var router = await TestRouter.StartAsync(output);
        await using var connector = PutshProcess.Start(output, "connector", "--routers", router.RegisterUri.ToString(), "--route", "slowc", "--target", backend.Backend.Uri.ToString(), "--sockets", "2");
        await connector.WaitForLineAsync(l => l.Contains("Registered with router", StringComparison.Ordinal));

        var call = router.Client.GetAsync("/slowc/slow");
        await backend.Arrived.Task.DefaultTimeout();
        await connector.SignalAsync("TERM");

        using var response = await call.DefaultTimeout();
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("finished", await response.Content.ReadAsStringAsync().DefaultTimeout());
        Assert.Equal(0, await connector.ExitCodeAsync());
    }

    [Fact]
    public async Task A_router_given_SIGTERM_finishes_a_slow_request_then_closes_connector_sockets_with_1001_and_exits_0()
    {
        await using var backend = await SlowBackend.StartAsync("slowr", output, SlowRequest);
        var (router, clients, register, _) = await PutshProcess.StartRouterAsync(output, "--drain-delay", "0s");
        await using var _ = router;
        await using var connector = await TestConnector.StartAsync([register], "slowr", backend.Backend.Uri, output, sockets: 2);
        using var client = new HttpClient { BaseAddress = clients, Timeout = TestTimeouts.Default };

        var call = client.GetAsync("/slowr/slow");
        await backend.Arrived.Task.DefaultTimeout();
        await router.SignalAsync("TERM");

        using var response = await call.DefaultTimeout();
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("finished", await response.Content.ReadAsStringAsync().DefaultTimeout());
        Assert.Equal(0, await router.ExitCodeAsync());
        var drained = Assert.Single(router.Lines, l => l.Contains("Drained after", StringComparison.Ordinal));
        Assert.Contains("shutdown timeout reached: False", drained);
        // The connector was told the router is going (1001) and, the router being gone, cannot dial it again.
        await Eventually.True(() => connector.Routers[0].IdleSockets == 0 && connector.Routers[0].ConsecutiveFailures > 0, "the connector to lose its sockets to the stopped router");
    }

    [Fact]
    public async Task A_draining_router_reports_not_ready_keeps_serving_its_routes_and_a_second_SIGTERM_ends_it_at_once()
    {
        await using var backend = await SlowBackend.StartAsync("drain", output, duration: null);
        var (router, clients, register, admin) = await PutshProcess.StartRouterAsync(output, "--drain-delay", "10m", "--admin", "http://127.0.0.1:0");
        await using var _ = router;
        await using var connector = await TestConnector.StartAsync([register], "drain", backend.Backend.Uri, output, sockets: 2);
        using var client = new HttpClient { Timeout = TestTimeouts.Default };
        Assert.NotNull(admin);

        using (var ready = await client.GetAsync(new Uri(admin, "/health/ready")).DefaultTimeout())
        {
            Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
        }

        await router.SignalAsync("TERM");
        await router.WaitForLineAsync(l => l.Contains("Stopping: not ready", StringComparison.Ordinal));

        using (var ready = await client.GetAsync(new Uri(admin, "/health/ready")).DefaultTimeout())
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, ready.StatusCode);
        }

        using (var live = await client.GetAsync(new Uri(admin, "/health/live")).DefaultTimeout())
        {
            Assert.Equal(HttpStatusCode.OK, live.StatusCode);
        }

        // Draining is not gone: the route answers, on a new connection as on an old one.
        Assert.Equal("quick", await client.GetStringAsync(new Uri(clients, "/drain/quick")).DefaultTimeout());

        await router.SignalAsync("TERM");
        Assert.Equal(128 + 15, await router.ExitCodeAsync());
        Assert.Contains(router.Lines, l => l.Contains("second SIGTERM, stopping now", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_request_that_outlasts_the_shutdown_timeout_is_cut_off_and_the_router_still_exits_0()
    {
        await using var backend = await SlowBackend.StartAsync("stuck", output, duration: null);
        var (router, clients, register, _) = await PutshProcess.StartRouterAsync(output, "--shutdown-timeout", "1s");
        await using var _ = router;
        await using var connector = await TestConnector.StartAsync([register], "stuck", backend.Backend.Uri, output, sockets: 2);
        using var client = new HttpClient { BaseAddress = clients, Timeout = TestTimeouts.Default };

        var call = client.GetAsync("/stuck/slow", HttpCompletionOption.ResponseHeadersRead);
        await backend.Arrived.Task.DefaultTimeout();
        await router.SignalAsync("TERM");

        Assert.Equal(0, await router.ExitCodeAsync());
        Assert.Contains("shutdown timeout reached: True", Assert.Single(router.Lines, l => l.Contains("Drained after", StringComparison.Ordinal)));
        // Nothing of the response had gone out, so the router answers for the lost connector socket itself.
        using var response = await call.DefaultTimeout();
        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
    }
}
