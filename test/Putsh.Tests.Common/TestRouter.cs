using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Putsh.Router;
using Putsh.Router.Hosting;
using Xunit.Abstractions;

namespace Putsh.Tests.Common;

/// <summary>
/// A real router on 127.0.0.1 with free ports, composed from the library as an embedder would: <c>AddPutshRouter</c>,
/// a client listener running the proxy and a registration listener answering registrations below HTTP (or one
/// listener doing both). The executable's own composition (TLS from PEM files, listener limits, admin) is tested in
/// Putsh.Cli.Tests, which builds this type from <c>putsh router</c>'s settings.
/// </summary>
public sealed class TestRouter : IAsyncDisposable
{
    private readonly WebApplication _app;

    internal TestRouter(WebApplication app, Uri clientUri, Uri registrationUri)
    {
        _app = app;
        ClientUri = clientUri;
        RegisterUri = new Uri("ws" + registrationUri.ToString()["http".Length..]);
        Client = new HttpClient(new SocketsHttpHandler { AllowAutoRedirect = false, UseCookies = false, AutomaticDecompression = DecompressionMethods.None })
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

    /// <summary>The router's cranker_3.0 pool for <paramref name="route"/>, for tests that watch waiters and idle sockets.</summary>
    internal Putsh.Router.Routing.V3RoutePool? V3Pool(string route, string domain = "*") =>
        _app.Services.GetRequiredService<Putsh.Router.Routing.RouteTable>().V3Pools.FirstOrDefault(p => p.Route == route && p.Domain == domain);

    /// <summary>The router's cranker_1.0 pool for <paramref name="route"/>.</summary>
    internal Putsh.Router.Routing.V1RoutePool? V1Pool(string route) =>
        _app.Services.GetRequiredService<Putsh.Router.Routing.RouteTable>().V1Pools.FirstOrDefault(p => p.Route == route);

    /// <summary>
    /// Starts a router. With <paramref name="sharedPort"/> clients and connectors share one listener; with
    /// <paramref name="registrationPort"/> the registration listener takes that port (a router that comes back where
    /// its connectors look for it). The client listener speaks <paramref name="clientProtocols"/>: HTTP/2 alone is
    /// HTTP/2 with prior knowledge (h2c).
    /// </summary>
    public static async Task<TestRouter> StartAsync(ITestOutputHelper? output = null, Action<RouterOptions>? configure = null, bool sharedPort = false, string name = "router", TimeProvider? time = null, int registrationPort = 0, HttpProtocols clientProtocols = HttpProtocols.Http1)
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [] });
        builder.Configuration.Sources.Clear();
        builder.Logging.SetMinimumLevel(LogLevel.Debug);
        LogTo(builder.Logging, output, name);

        ListenOptions? clients = null;
        ListenOptions? registration = null;
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            kestrel.Listen(IPAddress.Loopback, sharedPort ? registrationPort : 0, listen =>
            {
                listen.Protocols = clientProtocols;
                listen.UsePutshClientConnectionTracking();
                clients = listen;
            });
            if (!sharedPort)
            {
                kestrel.Listen(IPAddress.Loopback, registrationPort, listen =>
                {
                    listen.Protocols = HttpProtocols.Http1;
                    listen.UsePutshRegistrationConnections();
                    registration = listen;
                });
            }
        });
        if (time is not null)
        {
            builder.Services.AddSingleton(time);
        }

        builder.Services.AddPutshRouter(configure);
        var app = builder.Build();
        if (sharedPort)
        {
            app.UsePutshRegistration();
        }
        else
        {
            // Registrations that the connection middleware passed on (not plainly well-formed) reach the pipeline.
            app.UseWhen(c => c.Connection.LocalPort == registration!.IPEndPoint!.Port, b => b.RunPutshRegistration());
        }

        app.RunPutshProxy();
        return await StartAsync(app, () =>
        {
            var clientUri = new Uri($"http://127.0.0.1:{clients!.IPEndPoint!.Port}");
            return (clientUri, sharedPort ? clientUri : new Uri($"http://127.0.0.1:{registration!.IPEndPoint!.Port}"));
        });
    }

    /// <summary>
    /// Starts a router <paramref name="app"/> however it was composed; <paramref name="addresses"/>, asked once it has
    /// started, gives its client and registration addresses (http://). A start that fails disposes the app.
    /// </summary>
    internal static async Task<TestRouter> StartAsync(WebApplication app, Func<(Uri Clients, Uri Registration)> addresses)
    {
        try
        {
            await app.StartAsync().DefaultTimeout();
        }
        catch
        {
            await app.DisposeAsync();
            throw;
        }

        var (clients, registration) = addresses();
        return new TestRouter(app, clients, registration);
    }

    /// <summary>Sends a router's log to the test's output (nowhere without one), each line marked with <paramref name="name"/>.</summary>
    internal static void LogTo(ILoggingBuilder logging, ITestOutputHelper? output, string name)
    {
        logging.ClearProviders();
        if (output is not null)
        {
            logging.AddProvider(new XunitLoggerProvider(output, name));
        }
    }

    /// <summary>
    /// Starts a router on a port number chosen up front, for tests that need the number before the router exists.
    /// Another test may take a probed port before the router binds it, so a bind that finds it taken tries a fresh one.
    /// </summary>
    public static async Task<TestRouter> StartOnFreePortAsync(Func<int, Task<TestRouter>> start)
    {
        ArgumentNullException.ThrowIfNull(start);
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await start(FreePort());
            }
            catch (IOException e) when (attempt < 5 && e.InnerException is Microsoft.AspNetCore.Connections.AddressInUseException)
            {
            }
        }
    }

    /// <summary>A port that was free a moment ago on 127.0.0.1.</summary>
    public static int FreePort()
    {
        using var probe = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        return ((IPEndPoint)probe.LocalEndpoint).Port;
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
