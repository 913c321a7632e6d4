using System.Diagnostics;
using System.Globalization;
using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Putsh.Connector;

namespace Putsh.Benchmarks;

/// <summary>
/// The balancing experiment of issue 15: one route served by two connector instances whose backends answer in 2 ms
/// and in 20 ms (ten times slower); the same closed-loop load (a fixed number of clients, each sending its next request
/// when the last is answered) runs once with <c>round-robin</c> and once with <c>least-requests</c>, in one process,
/// and the latency and each instance's share are printed for both.
/// <c>dotnet run -c Release --project benchmarks/Putsh.Benchmarks -- balancing [requests] [clients]</c>.
/// </summary>
internal static class BalancingExperiment
{
    public static async Task RunAsync(string[] args)
    {
        var requests = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 4000;
        var clients = args.Length > 2 ? int.Parse(args[2], CultureInfo.InvariantCulture) : 32;
        await using var fast = await StartBackendAsync("fast", TimeSpan.FromMilliseconds(2));
        await using var slow = await StartBackendAsync("slow", TimeSpan.FromMilliseconds(20));
        Console.WriteLine($"2 connector instances (backends 2 ms and 20 ms), {clients} clients, {requests} requests per mode after 200 to warm up");
        Console.WriteLine("mode            mean ms   p50 ms   p99 ms   req/s   fast  slow");
        foreach (var mode in new[] { "round-robin", "least-requests" })
        {
            await using var router = await StartRouterAsync(mode);
            var port = Port(router);
            await using var a = await StartConnectorAsync(port, "fast", fast);
            await using var b = await StartConnectorAsync(port, "slow", slow);
            using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = clients, UseProxy = false }) { BaseAddress = new Uri($"http://127.0.0.1:{port}") };
            await LoadAsync(http, 200, clients);
            var clock = Stopwatch.StartNew();
            var (latencies, served) = await LoadAsync(http, requests, clients);
            var elapsed = clock.Elapsed;
            Array.Sort(latencies);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{mode,-14} {latencies.Average(),8:0.00} {latencies[latencies.Length / 2],8:0.00} {latencies[(int)(latencies.Length * 0.99)],8:0.00} {requests / elapsed.TotalSeconds,7:0} {served.GetValueOrDefault("fast"),6} {served.GetValueOrDefault("slow"),5}"));
        }
    }

    /// <summary>A closed loop: <paramref name="clients"/> tasks share <paramref name="total"/> requests, each sending its next when the last was answered.</summary>
    private static async Task<(double[] Latencies, Dictionary<string, int> Served)> LoadAsync(HttpClient http, int total, int clients)
    {
        var latencies = new double[total];
        var served = new Dictionary<string, int>();
        var next = -1;
        await Task.WhenAll(Enumerable.Range(0, clients).Select(async _ =>
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) < total)
            {
                var started = Stopwatch.GetTimestamp();
                using var response = await http.GetAsync("/svc/work");
                var backend = await response.Content.ReadAsStringAsync();
                latencies[i] = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
                lock (served)
                {
                    served[backend] = served.GetValueOrDefault(backend) + 1;
                }
            }
        }));
        return (latencies, served);
    }

    private static async Task<WebApplication> StartBackendAsync(string name, TimeSpan delay)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0));
        var app = builder.Build();
        app.Run(async context =>
        {
            await Task.Delay(delay);
            await context.Response.WriteAsync(name);
        });
        await app.StartAsync();
        return app;
    }

    private static async Task<WebApplication> StartRouterAsync(string mode)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0));
        builder.Services.AddPutshRouter(o => o.LoadBalancing = mode);
        var app = builder.Build();
        app.UsePutshRegistration();
        app.RunPutshProxy();
        await app.StartAsync();
        return app;
    }

    private static async Task<CrankerConnector> StartConnectorAsync(int routerPort, string instance, WebApplication backend)
    {
        var options = new ConnectorOptions { Route = "svc", Target = Address(backend), InstanceId = instance, Sockets = 4 };
        options.Routers.Add($"ws://127.0.0.1:{routerPort}");
        options.Protocols.Remove("cranker_1.0");
        var connector = new CrankerConnector(options);
        await connector.StartAsync();
        using var ready = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await connector.WaitForIdleSocketsAsync(options.Sockets, ready.Token);
        return connector;
    }

    private static string Address(WebApplication app) => app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();

    private static int Port(WebApplication app) => new Uri(Address(app)).Port;
}
