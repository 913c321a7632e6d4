using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Builder;
using Putsh.Connector;
using Putsh.Tests.Common;
using Xunit.Abstractions;

namespace Putsh.Cli.Tests;

/// <summary>
/// The Kubernetes topology on one machine: three router processes on 127.0.0.1, 127.0.0.2 and 127.0.0.3 (one port,
/// as pods behind a headless Service), and connectors that find all three through one host name (the connector's
/// <see cref="ConnectorOptions.HostResolver"/>, standing in for the Service's DNS). One router is killed (SIGKILL)
/// under load and started again.
/// </summary>
public sealed class RouterFleetTests(ITestOutputHelper output)
{
    private const string Name = "routers.test";
    private const int SocketsPerRouter = 2;

    [Fact]
    public async Task Connectors_find_every_router_by_one_name_survive_one_being_killed_and_rejoin_it_when_it_returns()
    {
        var served = new ConcurrentDictionary<string, int>();
        await using var backend = await TestBackend.StartAsync(app => app.MapGet("/fleet/{who}", (string who) =>
        {
            served.AddOrUpdate(who, 1, (_, n) => n + 1);
            return "served " + who;
        }), output);

        var (first, firstClients, register, _) = await PutshProcess.StartRouterOnAsync(output, "http://127.0.0.1:0", "http://127.0.0.1:0");
        var port = register.Port;
        var routers = new PutshProcess?[3];
        var clients = new Uri[3];
        routers[0] = first;
        clients[0] = firstClients;
        try
        {
            for (var i = 1; i < 3; i++)
            {
                (routers[i], clients[i]) = await StartRouterAsync(i, port);
            }

            IPAddress[] fleet = [IPAddress.Parse("127.0.0.1"), IPAddress.Parse("127.0.0.2"), IPAddress.Parse("127.0.0.3")];
            var connectors = new List<CrankerConnector>();
            foreach (var name in new[] { "a", "b" })
            {
                connectors.Add(await TestConnector.StartAsync([new Uri($"ws://{Name}:{port}")], "fleet", backend.Uri, output, o =>
                {
                    o.ComponentName = "fleet-" + name;
                    o.HostResolver = (host, _) => host == Name ? Task.FromResult(fleet) : Task.FromException<IPAddress[]>(new SocketException((int)SocketError.HostNotFound));
                }, sockets: SocketsPerRouter, name: "connector-" + name));
            }

            try
            {
                // Each connector registered with each router: three registrations apiece, each with its sockets.
                foreach (var connector in connectors)
                {
                    Assert.Equal(3, connector.Routers.Count);
                }

                using var http = new HttpClient { Timeout = TestTimeouts.Default };
                for (var i = 0; i < 3; i++)
                {
                    await GetWhenRoutedAsync(http, new Uri(clients[i], "/fleet/router" + i));
                }

                // Load through the two survivors while the third is killed and comes back; none of it may fail.
                var failures = new ConcurrentQueue<string>();
                var sent = 0;
                using var stopLoad = new CancellationTokenSource();
                var load = Enumerable.Range(0, 4).Select(n => Task.Run(async () =>
                {
                    var target = clients[n % 2 == 0 ? 0 : 2];
                    for (var k = 0; k < 5_000 && !stopLoad.IsCancellationRequested; k++)
                    {
                        Interlocked.Increment(ref sent);
                        try
                        {
                            using var response = await http.GetAsync(new Uri(target, $"/fleet/load{n}"));
                            if (response.StatusCode != HttpStatusCode.OK)
                            {
                                failures.Enqueue($"{target}: {(int)response.StatusCode}");
                            }
                        }
                        catch (HttpRequestException e)
                        {
                            failures.Enqueue($"{target}: {e.Message}");
                        }
                    }
                })).ToArray();

                await routers[1]!.SignalAsync("KILL");
                Assert.Equal(137, await routers[1]!.ExitCodeAsync());
                await routers[1]!.DisposeAsync();
                routers[1] = null;

                // Every connector keeps (or regains) its full window with both survivors.
                await Eventually.True(() => connectors.All(c => Survivors(c).All(r => r.IdleSockets + r.BusySockets >= 1)), "the connectors to stay registered with both survivors");

                // The killed router returns on the same address: the connectors' registrations for it dial again.
                (routers[1], clients[1]) = await StartRouterAsync(1, port);
                await Eventually.True(
                    () => connectors.All(c => c.Routers.Single(r => r.Router.Contains("127.0.0.2", StringComparison.Ordinal)).IdleSockets >= SocketsPerRouter),
                    "the connectors to re-establish their sockets with the returning router");
                Assert.Equal("served back", await GetWhenRoutedAsync(http, new Uri(clients[1], "/fleet/back")));

                await stopLoad.CancelAsync();
                await Task.WhenAll(load).DefaultTimeout();
                Assert.True(failures.IsEmpty, $"{failures.Count} of {sent} requests to the survivors failed, first: {failures.FirstOrDefault()}");
                Assert.True(sent > 4, "the load loop never ran");
                Assert.True(served.Keys.Count(k => k.StartsWith("load", StringComparison.Ordinal)) == 4, "every load loop was served");
            }
            finally
            {
                foreach (var connector in connectors)
                {
                    await connector.DisposeAsync();
                }
            }
        }
        finally
        {
            foreach (var router in routers)
            {
                if (router is not null)
                {
                    await router.SignalAsync("TERM");
                    await router.ExitCodeAsync();
                    await router.DisposeAsync();
                }
            }
        }
    }

    private static IEnumerable<RouterStatus> Survivors(CrankerConnector connector) =>
        connector.Routers.Where(r => !r.Router.Contains("127.0.0.2", StringComparison.Ordinal));

    private async Task<(PutshProcess, Uri)> StartRouterAsync(int index, int port)
    {
        var (process, clientsUri, _, _) = await PutshProcess.StartRouterOnAsync(output, $"http://127.0.0.{index + 1}:0", $"http://127.0.0.{index + 1}:{port}");
        return (process, clientsUri);
    }

    private static async Task<string> GetWhenRoutedAsync(HttpClient http, Uri uri)
    {
        var deadline = DateTime.UtcNow + TestTimeouts.Default;
        while (true)
        {
            using var response = await http.GetAsync(uri).DefaultTimeout();
            if (response.StatusCode == HttpStatusCode.OK)
            {
                return await response.Content.ReadAsStringAsync().DefaultTimeout();
            }

            Assert.True(DateTime.UtcNow < deadline, $"{uri} was never routed (last: {(int)response.StatusCode})");
            await Task.Delay(TimeSpan.FromMilliseconds(20));
        }
    }
}
