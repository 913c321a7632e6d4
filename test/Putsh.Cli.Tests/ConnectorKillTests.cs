using System.Collections.Concurrent;
using System.Net;
using Microsoft.AspNetCore.Builder;
using Putsh.Tests.Common;
using Xunit.Abstractions;

namespace Putsh.Cli.Tests;

/// <summary>
/// A connector process killed (SIGKILL) with requests on its sockets that it never read. Where it acknowledges request
/// heads (the default), the router knows it never took them and sends each to the other connector; where it does not
/// (<c>--acknowledge-heads false</c>), the router cannot tell and answers 502. Either way no request reaches a backend
/// twice.
/// </summary>
public sealed class ConnectorKillTests(ITestOutputHelper output)
{
    private const int Requests = 12;

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Requests_a_killed_connector_never_read_go_to_the_other_connector_where_heads_are_acknowledged(bool acknowledgeHeads)
    {
        var seen = new ConcurrentDictionary<int, int>();
        await using var backend = await TestBackend.StartAsync(app => app.MapGet("/kill/{n:int}", (int n) =>
        {
            seen.AddOrUpdate(n, 1, (_, c) => c + 1);
            return "ok " + n;
        }), output);

        // The frozen connector must stay chosen however long it is silent: what is tested is what happens to the
        // requests already on its sockets, not the pong check that would stop new ones.
        await using var router = await TestRouter.StartAsync(output, o => o.PongTimeout = TimeSpan.FromHours(1));

        PutshProcess StartConnector(string name) => PutshProcess.Start(output, "connector", "--routers", router.RegisterUri.ToString(), "--route", "kill",
            "--target", backend.Uri.ToString(), "--protocols", "cranker_3.0", "--sockets", "2", "--component-name", name,
            "--acknowledge-heads", acknowledgeHeads ? "true" : "false");

        await using var doomed = StartConnector("doomed");
        await using var survivor = StartConnector("survivor");
        await Eventually.True(() => (router.V3Pool("kill")?.Count ?? 0) >= 4, "both connectors' sockets registered");

        // Frozen, it reads nothing: requests sent to it now wait in its socket buffers, never taken.
        await doomed.SignalAsync("STOP");
        var calls = Enumerable.Range(0, Requests).Select(async n =>
        {
            using var response = await router.Client.GetAsync($"/kill/{n}");
            return (n, response.StatusCode, Body: await response.Content.ReadAsStringAsync());
        }).ToArray();

        // Round-robin puts about half on the frozen connector's sockets; the rest are answered.
        int OnDoomed() => router.V3Pool("kill")!.Snapshot().Where(s => s.Connector.ComponentName == "doomed").Sum(s => s.InFlight);
        await Eventually.True(() => OnDoomed() > 0 && calls.Count(c => c.IsCompleted) + OnDoomed() == Requests, "the survivor's share answered, the rest waiting on the frozen connector");
        var stranded = OnDoomed();

        await doomed.SignalAsync("KILL");
        var results = await Task.WhenAll(calls).DefaultTimeout();

        var failed = results.Where(r => r.StatusCode != HttpStatusCode.OK).ToList();
        output.WriteLine($"acknowledge-heads {acknowledgeHeads}: {stranded} of {Requests} requests stranded on the killed connector; {failed.Count} not 200");
        if (acknowledgeHeads)
        {
            Assert.All(results, r => Assert.Equal((HttpStatusCode.OK, "ok " + r.n), (r.StatusCode, r.Body)));
        }
        else
        {
            Assert.Equal(stranded, failed.Count);
            Assert.All(failed, r => Assert.Equal(HttpStatusCode.BadGateway, r.StatusCode));
        }

        // Never twice; and a request answered 502 never reached a backend at all.
        Assert.All(seen, kv => Assert.Equal(1, kv.Value));
        Assert.Equal(Requests - failed.Count, seen.Count);
        Assert.All(failed, r => Assert.False(seen.ContainsKey(r.n)));
    }
}
