using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Putsh.Cli.Commands;
using Putsh.Cli.Hosting;
using Putsh.Router;
using Xunit.Abstractions;

namespace Putsh.Tests.Common;

/// <summary>A real router (the same composition as <c>putsh router</c>) on 127.0.0.1 with free ports.</summary>
public sealed class TestRouter : IAsyncDisposable
{
    private readonly WebApplication _app;

    internal TestRouter(WebApplication app, BoundListeners listeners)
    {
        _app = app;
        ClientUri = new Uri(listeners.Urls(ListenerRole.Clients)[0]);
        var registration = listeners.Urls(ListenerRole.Registration)[0];
        RegisterUri = new Uri("ws" + registration["http".Length..]);
        Client = new HttpClient(new SocketsHttpHandler { AllowAutoRedirect = false, UseCookies = false, AutomaticDecompression = System.Net.DecompressionMethods.None })
        {
            BaseAddress = ClientUri,
            Timeout = TestTimeouts.Default,
        };
    }

    /// <summary>Where clients send requests (x).</summary>
    public Uri ClientUri { get; }

    /// <summary>Where connectors register (y), as ws://.</summary>
    public Uri RegisterUri { get; }

    public HttpClient Client { get; }

    public IServiceProvider Services => _app.Services;

    /// <summary>The router's cranker_1.0 pool for <paramref name="route"/>, for tests that watch waiters and idle sockets.</summary>
    internal Putsh.Router.Routing.V3RoutePool? V3Pool(string route, string domain = "*") =>
        _app.Services.GetRequiredService<Putsh.Router.Routing.RouteTable>().V3Pools.FirstOrDefault(p => p.Route == route && p.Domain == domain);

    internal Putsh.Router.Routing.V1RoutePool? V1Pool(string route) =>
        _app.Services.GetRequiredService<Putsh.Router.Routing.RouteTable>().V1Pools.FirstOrDefault(p => p.Route == route);

    public static async Task<TestRouter> StartAsync(ITestOutputHelper? output = null, Action<RouterOptions>? configure = null, bool sharedPort = false, string name = "router", TimeProvider? time = null)
    {
        var settings = new RouterSettings
        {
            Listen = ["http://127.0.0.1:0"],
            Register = ["http://127.0.0.1:0"],
            Time = time,
        };
        configure?.Invoke(settings.Options);
        return await StartAsync(settings, output, sharedPort, name);
    }

    internal static Task<TestRouter> StartAsync(RouterSettings settings, ITestOutputHelper? output, bool sharedPort = false, string name = "router") =>
        sharedPort
            ? StartOnFreePortAsync(port => { settings.Listen = [$"http://127.0.0.1:{port}"]; settings.Register = [$"http://127.0.0.1:{port}"]; return settings; }, output, name)
            : StartOnceAsync(settings, output, name);

    /// <summary>
    /// Starts a router on a port number chosen up front (for tests that need the number before the router exists).
    /// Another test may take a probed port before the router binds it, so a bind that finds it taken tries a fresh one.
    /// </summary>
    internal static async Task<TestRouter> StartOnFreePortAsync(Func<int, RouterSettings> settings, ITestOutputHelper? output, string name = "router")
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await StartOnceAsync(settings(FreePort()), output, name);
            }
            catch (IOException e) when (attempt < 5 && e.InnerException is Microsoft.AspNetCore.Connections.AddressInUseException)
            {
            }
        }
    }

    /// <summary>A port that was free a moment ago on 127.0.0.1.</summary>
    public static int FreePort()
    {
        using var probe = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        probe.Start();
        return ((System.Net.IPEndPoint)probe.LocalEndpoint).Port;
    }

    private static async Task<TestRouter> StartOnceAsync(RouterSettings settings, ITestOutputHelper? output, string name)
    {
        var app = RouterCommand.Build(settings, LogLevel.Debug, out var listeners, logging =>
        {
            logging.ClearProviders();
            if (output is not null)
            {
                logging.AddProvider(new XunitLoggerProvider(output, name));
            }
        });
        try
        {
            await app.StartAsync().DefaultTimeout();
        }
        catch
        {
            await app.DisposeAsync();
            throw;
        }

        return new TestRouter(app, listeners);
    }

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        try
        {
            await _app.StopAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
        }

        await _app.DisposeAsync();
    }
}
