using System.Net;
using System.Net.WebSockets;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Putsh.Tests.Common;
using Xunit.Abstractions;

namespace Putsh.Router.Tests.Hosting;

/// <summary>
/// The router as endpoints (<c>MapPutshRegistration</c>, <c>MapPutshProxy</c>) in an ordinary ASP.NET Core app on a
/// real Kestrel listener, with real connectors registering and real clients.
/// </summary>
public sealed class EndpointRoutingTests(ITestOutputHelper output)
{
    [Fact]
    public async Task The_apps_own_endpoints_answer_next_to_the_proxy_and_the_rest_is_proxied()
    {
        await using var backend = await TestBackend.StartAsync(app => app.MapGet("/hello/{**rest}", (HttpContext c) => "backend " + c.Request.Path), output);
        await using var router = await App.StartAsync(output, app =>
        {
            app.MapGet("/healthz", () => "app healthy");
            app.MapPutshRegistration();
            app.MapPutshProxy();
        });
        await using var connector = await TestConnector.StartAsync([router.Ws("/")], "hello", backend.Uri, output);
        await router.WaitForRouteAsync("/hello/x");

        Assert.Equal("app healthy", await router.Client.GetStringAsync("/healthz").DefaultTimeout());
        Assert.Equal("backend /hello/there", await router.Client.GetStringAsync("/hello/there").DefaultTimeout());

        using var none = await router.Client.GetAsync("/nobody/here").DefaultTimeout();
        Assert.Equal(HttpStatusCode.NotFound, none.StatusCode);
        Assert.Contains("Page not found", await none.Content.ReadAsStringAsync().DefaultTimeout());
        Assert.Equal(router.Probes + 1, backend.RequestCount);
    }

    [Fact]
    public async Task Conventions_apply_to_the_proxy_and_a_group_prefix_to_the_registration_path()
    {
        await using var backend = await TestBackend.StartAsync(app => app.MapGet("/hello/{**rest}", () => "from the backend"), output);
        await using var router = await App.StartAsync(output, app =>
        {
            app.MapGroup("/putsh").MapPutshRegistration();
            app.MapPutshProxy().RequireHost("proxy.example");
        });

        // Registration lives under the group's prefix only.
        using (var plain = await router.Client.GetAsync("/register").DefaultTimeout())
        {
            Assert.Equal(HttpStatusCode.NotFound, plain.StatusCode);
        }

        await using var connector = await TestConnector.StartAsync([router.Ws("/putsh")], "hello", backend.Uri, output);

        // The proxy answers only the host it was given: another host matches no endpoint at all.
        using var other = new HttpRequestMessage(HttpMethod.Get, "/hello/x");
        using (var refused = await router.Client.SendAsync(other).DefaultTimeout())
        {
            Assert.Equal(HttpStatusCode.NotFound, refused.StatusCode);
            Assert.Equal(0L, refused.Content.Headers.ContentLength);
        }

        using var mine = new HttpRequestMessage(HttpMethod.Get, "/hello/x") { Headers = { Host = "proxy.example" } };
        using var proxied = await router.Client.SendAsync(mine).DefaultTimeout();
        Assert.Equal(HttpStatusCode.OK, proxied.StatusCode);
        Assert.Equal("from the backend", await proxied.Content.ReadAsStringAsync().DefaultTimeout());
    }

    [Fact]
    public async Task A_client_websocket_passes_through_the_mapped_proxy_without_websocket_middleware()
    {
        await using var backend = await TestBackend.StartAsync(
            app =>
            {
                app.UseWebSockets();
                app.Map("/chat", async (HttpContext c) =>
                {
                    using var ws = await c.WebSockets.AcceptWebSocketAsync();
                    var buffer = new byte[256];
                    var got = await ws.ReceiveAsync(buffer, c.RequestAborted);
                    await ws.SendAsync(Encoding.UTF8.GetBytes("echo " + Encoding.UTF8.GetString(buffer, 0, got.Count)), WebSocketMessageType.Text, true, c.RequestAborted);
                    await ws.CloseAsync(WebSocketCloseStatus.NormalClosure, "bye", c.RequestAborted);
                });
            },
            output);
        await using var router = await App.StartAsync(output, app =>
        {
            app.MapPutshRegistration();
            app.MapPutshProxy();
        });
        await using var connector = await TestConnector.StartAsync([router.Ws("/")], "chat", backend.Uri, output, TestConnector.V3Only);
        await router.WaitForRouteAsync("/chat");

        using var client = new ClientWebSocket();
        await client.ConnectAsync(router.Ws("/chat"), TestTimeouts.Token()).DefaultTimeout();
        await client.SendAsync(Encoding.UTF8.GetBytes("hi"), WebSocketMessageType.Text, true, TestTimeouts.Token()).DefaultTimeout();
        var reply = new byte[256];
        var received = await client.ReceiveAsync(reply, TestTimeouts.Token()).DefaultTimeout();
        Assert.Equal("echo hi", Encoding.UTF8.GetString(reply, 0, received.Count));
    }

    [Fact]
    public async Task Options_bind_from_configuration_by_their_property_names()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Putsh:SocketAcquireTimeout"] = "3s",
            ["Putsh:IdleTimeout"] = "00:01:30",
            ["Putsh:SendLegacyForwardedHeaders"] = "yes",
            ["Putsh:Protocols"] = "cranker_3.0",
            ["Putsh:TrustedProxies:0"] = "10.0.0.0/8",
            ["Putsh:MaxSocketsPerRoute"] = "7",
            ["Putsh:MaxSocketsPerSource"] = "unlimited",
            ["Putsh:RegistrationTokens"] = "orders,payments: s3cret",
        }).Build();
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddPutshRouter(configuration.GetSection("Putsh"), o => o.ViaName = "edge");
        await using var provider = services.BuildServiceProvider();

        var options = provider.GetRequiredService<IOptions<RouterOptions>>().Value;
        Assert.Equal(TimeSpan.FromSeconds(3), options.SocketAcquireTimeout);
        Assert.True(options.SendLegacyForwardedHeaders);
        Assert.Equal(7, options.MaxSocketsPerRoute);
        Assert.Equal("edge", options.ViaName);
        Assert.Equal(TimeSpan.FromSeconds(90), options.IdleTimeout);
        Assert.Null(options.MaxSocketsPerSource);

        // A list replaces its default rather than adding to it, and a comma splits it unless the value is one entry.
        Assert.Equal(["cranker_3.0"], options.Protocols);
        Assert.Equal(["10.0.0.0/8"], options.TrustedProxies);
        Assert.Equal(["orders,payments: s3cret"], options.RegistrationTokens);
    }

    [Fact]
    public async Task An_unknown_key_or_a_malformed_value_in_configuration_stops_the_host_naming_each()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Putsh:Router:SocketAcquireTimout"] = "3s",
            ["Putsh:Router:IdleTimeout"] = "soon",
        }).Build();
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0));
        builder.Services.AddPutshRouter(configuration.GetSection("Putsh:Router"));
        await using var app = builder.Build();

        var error = await Assert.ThrowsAsync<OptionsValidationException>(async () =>
        {
            app.MapPutshProxy();
            await app.StartAsync();
        }).DefaultTimeout();
        Assert.Contains("Putsh:Router:SocketAcquireTimout: unknown setting", error.Message);
        Assert.Contains("Putsh:Router:IdleTimeout: 'soon' is not a duration", error.Message);
        Assert.DoesNotContain("\n", error.Message);
    }

    [Fact]
    public async Task A_wrong_option_stops_the_host_at_start_with_one_line_naming_it()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0));
        builder.Services.AddPutshRouter(o => o.PongTimeout = TimeSpan.Zero);
        await using var app = builder.Build();

        // Mapping the proxy already reads the options; a host that maps nothing stops in StartAsync.
        var error = await Assert.ThrowsAsync<OptionsValidationException>(async () =>
        {
            app.MapPutshProxy();
            await app.StartAsync();
        }).DefaultTimeout();
        Assert.Contains("PongTimeout", error.Message);
        Assert.DoesNotContain("\n", error.Message);
    }

    /// <summary>An ASP.NET Core app on 127.0.0.1 with a free port, composed by the test.</summary>
    private sealed class App : IAsyncDisposable
    {
        private readonly WebApplication _app;

        private App(WebApplication app, Uri uri)
        {
            _app = app;
            Uri = uri;
            Client = new HttpClient { BaseAddress = uri, Timeout = TestTimeouts.Default };
        }

        public Uri Uri { get; }

        public HttpClient Client { get; }

        /// <summary>Requests made by <see cref="WaitForRouteAsync"/> that reached a backend.</summary>
        public int Probes { get; private set; }

        public Uri Ws(string path) => new($"ws://{Uri.Authority}{path}");

        public static async Task<App> StartAsync(ITestOutputHelper output, Action<WebApplication> map)
        {
            var builder = WebApplication.CreateSlimBuilder();
            builder.Logging.ClearProviders();
            builder.Logging.AddProvider(new XunitLoggerProvider(output, "app"));
            builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0));
            builder.Services.AddPutshRouter();
            var app = builder.Build();
            map(app);
            await app.StartAsync().DefaultTimeout();
            var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
            return new App(app, new Uri(address));
        }

        /// <summary>Waits until <paramref name="path"/> is served by a connector (registration is asynchronous).</summary>
        public async Task WaitForRouteAsync(string path)
        {
            var deadline = DateTime.UtcNow + TestTimeouts.Default;
            while (true)
            {
                using var probe = await Client.GetAsync(path).DefaultTimeout();
                if (probe.StatusCode != HttpStatusCode.NotFound && probe.StatusCode != HttpStatusCode.ServiceUnavailable)
                {
                    Probes++;
                    return;
                }

                Assert.True(DateTime.UtcNow < deadline, $"{path} was never routed");
                await Task.Delay(TimeSpan.FromMilliseconds(20));
            }
        }

        public async ValueTask DisposeAsync()
        {
            Client.Dispose();
            await _app.DisposeAsync();
        }
    }
}
