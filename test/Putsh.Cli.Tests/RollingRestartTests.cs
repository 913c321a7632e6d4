using System.Diagnostics;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Putsh.Tests.Common;
using Xunit.Abstractions;

namespace Putsh.Cli.Tests;

/// <summary>
/// A deploy as an operator does it: two connector processes on a route under steady client load, each in turn sent
/// SIGTERM and replaced by a new process. No client sees anything but 200.
/// </summary>
public sealed class RollingRestartTests(ITestOutputHelper output)
{
    private const int Clients = 4;
    private const int MaxRequestsPerClient = 20_000;

    [Theory]
    [InlineData("cranker_1.0")]
    [InlineData("cranker_3.0")]
    public async Task Restarting_each_of_two_connectors_in_turn_under_load_loses_no_request(string protocol)
    {
        await using var backend = await TestBackend.StartAsync(app => app.MapGet("/roll/{n}", async (HttpContext context, string n) =>
        {
            // Some requests are in flight at every moment, so each stop has work to finish.
            await Task.Yield();
            return "ok " + n;
        }), output);
        await using var router = await TestRouter.StartAsync(output);

        PutshProcess StartConnector(string name) => PutshProcess.Start(output, "connector", "--routers", router.RegisterUri.ToString(), "--route", "roll",
            "--target", backend.Uri.ToString(), "--protocols", protocol, "--sockets", "4", "--component-name", name);

        var connectors = new[] { StartConnector("a1"), StartConnector("b1") };
        try
        {
            foreach (var c in connectors)
            {
                await c.WaitForLineAsync(l => l.Contains("Registered with router", StringComparison.Ordinal));
            }

            await Eventually.True(() => RouteSockets(router, protocol) >= 8, "both connectors' sockets registered");

            using var stop = new CancellationTokenSource(TimeSpan.FromMinutes(2));
            var failures = new List<string>();
            var counts = new int[Clients];
            var load = Enumerable.Range(0, Clients).Select(c => Task.Run(async () =>
            {
                using var client = new HttpClient { BaseAddress = router.ClientUri, Timeout = TestTimeouts.Default };
                for (var i = 0; i < MaxRequestsPerClient && !stop.IsCancellationRequested; i++)
                {
                    try
                    {
                        using var response = await client.GetAsync($"/roll/{i}");
                        var body = await response.Content.ReadAsStringAsync();
                        if ((int)response.StatusCode != 200 || body != $"ok {i}")
                        {
                            lock (failures)
                            {
                                failures.Add($"{(int)response.StatusCode} {body}");
                            }
                        }
                    }
                    catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException or IOException)
                    {
                        lock (failures)
                        {
                            failures.Add(ex.GetType().Name + ": " + ex.Message);
                        }
                    }

                    counts[c]++;
                }
            })).ToArray();

            var watch = Stopwatch.StartNew();
            for (var slot = 0; slot < connectors.Length; slot++)
            {
                // Let some load reach this generation first.
                var before = counts.Sum();
                await Eventually.True(() => counts.Sum() >= before + 200, "load flowing");

                var old = connectors[slot];
                await old.SignalAsync("TERM");
                Assert.Equal(0, await old.ExitCodeAsync());
                await old.DisposeAsync();

                connectors[slot] = StartConnector($"{(char)('a' + slot)}2");
                await connectors[slot].WaitForLineAsync(l => l.Contains("Registered with router", StringComparison.Ordinal));
                if (protocol == "cranker_3.0")
                {
                    await Eventually.True(() => RouteSockets(router, protocol) >= 8, "all the new connector's sockets registered");
                }
            }

            var last = counts.Sum();
            await Eventually.True(() => counts.Sum() >= last + 200, "load after the restarts");
            await stop.CancelAsync();
            await Task.WhenAll(load).DefaultTimeout();
            output.WriteLine($"{protocol}: {counts.Sum()} requests over {watch.Elapsed.TotalSeconds:F1} s with two connector restarts; {failures.Count} failures");
            Assert.Empty(failures);
        }
        finally
        {
            foreach (var c in connectors)
            {
                await c.DisposeAsync();
            }
        }
    }

    private static int RouteSockets(TestRouter router, string protocol) =>
        protocol == "cranker_3.0" ? router.V3Pool("roll")?.Count ?? 0 : router.V1Pool("roll")?.IdleCount ?? 0;
}
