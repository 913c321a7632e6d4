using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Putsh.Tests.Common;
using Xunit.Abstractions;

namespace Putsh.Connector.AspNetCore.Tests;

/// <summary>A real router, and a real minimal-API app served through it by <c>UsePutshConnector</c> with no port.</summary>
internal sealed class HostedApp : IAsyncDisposable
{
    public const int Sockets = 2;

    private HostedApp(TestRouter router, WebApplication app, CrankerConnector connector)
    {
        Router = router;
        App = app;
        Connector = connector;
    }

    public TestRouter Router { get; }

    public WebApplication App { get; }

    public CrankerConnector Connector { get; }

    public HttpClient Client => Router.Client;

    public static async Task<HostedApp> StartAsync(ITestOutputHelper output, string protocol, Action<WebApplication> map, Action<ConnectorOptions>? configure = null)
    {
        var router = await TestRouter.StartAsync(output);
        try
        {
            var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [], EnvironmentName = "Production" });
            builder.Logging.ClearProviders();
            builder.Logging.SetMinimumLevel(LogLevel.Debug);
            builder.Logging.AddProvider(new XunitLoggerProvider(output, "app"));
            builder.Logging.AddFilter("Microsoft", LogLevel.Warning);
            builder.WebHost.UsePutshConnector(o =>
            {
                o.Routers.Add(router.RegisterUri.ToString());
                o.Route = "app";
                o.Sockets = Sockets;
                o.Protocols.Clear();
                o.Protocols.Add(protocol);
                o.ReconnectInitialDelay = TimeSpan.FromMilliseconds(50);
                o.ReconnectMaxDelay = TimeSpan.FromMilliseconds(500);
                o.ShutdownTimeout = TimeSpan.FromSeconds(5);
                configure?.Invoke(o);
            });
            var app = builder.Build();
            map(app);
            await app.StartAsync().DefaultTimeout();

            // Ready once every router holds a full window of this app's sockets.
            var connector = app.Services.GetRequiredService<IServer>().Features.Get<IPutshConnectorFeature>()!.Connector;
            await connector.WaitForIdleSocketsAsync(Sockets, TestTimeouts.Token()).DefaultTimeout();
            Assert.Equal(protocol, connector.Routers.Single().Protocol);
            return new HostedApp(router, app, connector);
        }
        catch
        {
            await router.DisposeAsync();
            throw;
        }
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await App.StopAsync(TestTimeouts.Token()).DefaultTimeout();
        }
        finally
        {
            await App.DisposeAsync().AsTask().DefaultTimeout();
            await Router.DisposeAsync();
        }
    }
}
