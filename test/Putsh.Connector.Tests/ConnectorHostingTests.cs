using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Putsh.Tests.Common;
using Xunit.Abstractions;

namespace Putsh.Connector.Tests;

/// <summary><c>AddPutshConnector</c> in a real Generic Host, against a real router and backends.</summary>
public sealed class ConnectorHostingTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Named_connectors_run_side_by_side_in_one_host_each_with_its_own_route_and_target()
    {
        await using var orders = await TestBackend.StartAsync(app => app.MapGet("/orders/", () => "orders here"), output);
        await using var users = await TestBackend.StartAsync(app => app.MapGet("/users/", () => "users here"), output);
        await using var router = await TestRouter.StartAsync(output);

        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Logging.AddProvider(new XunitLoggerProvider(output, "host"));
        builder.Services.AddPutshConnector("orders", o => Configure(o, router, "orders", orders));
        builder.Services.AddPutshConnector("users", o => Configure(o, router, "users", users));
        using var host = builder.Build();
        await host.StartAsync().DefaultTimeout();

        var first = host.Services.GetRequiredKeyedService<CrankerConnector>("orders");
        var second = host.Services.GetRequiredKeyedService<CrankerConnector>("users");
        Assert.NotSame(first, second);
        await first.WaitForIdleSocketsAsync(2, TestTimeouts.Token()).DefaultTimeout();
        await second.WaitForIdleSocketsAsync(2, TestTimeouts.Token()).DefaultTimeout();

        Assert.Equal("orders here", await GetWhenRoutedAsync(router, "/orders/"));
        Assert.Equal("users here", await GetWhenRoutedAsync(router, "/users/"));

        await host.StopAsync().DefaultTimeout();
        using var gone = await router.Client.GetAsync("/orders/").DefaultTimeout();
        Assert.NotEqual(HttpStatusCode.OK, gone.StatusCode);
    }

    [Fact]
    public async Task Adding_the_default_connector_twice_configures_one_connector()
    {
        await using var backend = await TestBackend.StartAsync(app => app.MapGet("/twice/", () => "one connector"), output);
        await using var router = await TestRouter.StartAsync(output);

        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Services.AddPutshConnector(o =>
        {
            o.Routers.Add(router.RegisterUri.ToString());
            o.Route = "twice";
            o.Sockets = 3;
        });
        builder.Services.AddPutshConnector(o => o.Target = backend.Uri.ToString());
        using var host = builder.Build();
        await host.StartAsync().DefaultTimeout();

        var connector = host.Services.GetRequiredService<CrankerConnector>();
        await connector.WaitForIdleSocketsAsync(3, TestTimeouts.Token()).DefaultTimeout();
        Assert.Equal("one connector", await GetWhenRoutedAsync(router, "/twice/"));

        // One connector started, not two: the router holds its three sockets and no more.
        Assert.Single(host.Services.GetServices<IHostedService>());
        Assert.Equal(3, Assert.Single(connector.Routers).IdleSockets + connector.Routers[0].BusySockets);
        await host.StopAsync().DefaultTimeout();
    }

    [Fact]
    public async Task Options_bind_from_configuration_by_their_property_names()
    {
        await using var backend = await TestBackend.StartAsync(app => app.MapGet("/bound/", () => "bound from configuration"), output);
        await using var router = await TestRouter.StartAsync(output);
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Connector:Routers"] = router.RegisterUri.ToString(),
            ["Connector:Route"] = "bound",
            ["Connector:Target"] = backend.Uri.ToString(),
            ["Connector:Sockets"] = "2",
            ["Connector:ReconnectInitialDelay"] = "50ms",
            ["Connector:Protocols"] = "cranker_3.0",
        }).Build();

        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Services.AddPutshConnector(configuration.GetSection("Connector"));
        using var host = builder.Build();
        var options = host.Services.GetRequiredService<IOptions<ConnectorOptions>>().Value;
        Assert.Equal(TimeSpan.FromMilliseconds(50), options.ReconnectInitialDelay);
        Assert.Equal([router.RegisterUri.ToString()], options.Routers);
        Assert.Equal(["cranker_3.0"], options.Protocols);
        await host.StartAsync().DefaultTimeout();

        Assert.Equal("bound from configuration", await GetWhenRoutedAsync(router, "/bound/"));
        await host.StopAsync().DefaultTimeout();
    }

    [Fact]
    public async Task An_unknown_key_in_configuration_stops_the_host_naming_it()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Connectors:billing:Routers"] = "ws://127.0.0.1:1",
            ["Connectors:billing:Route"] = "billing",
            ["Connectors:billing:Target"] = "http://127.0.0.1:2",
            ["Connectors:billing:Router"] = "ws://127.0.0.1:3",
        }).Build();
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Services.AddPutshConnector("billing", configuration.GetSection("Connectors:billing"));
        using var host = builder.Build();

        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync()).DefaultTimeout();
        Assert.Contains("Connectors:billing:Router: unknown setting", error.Message);
        Assert.DoesNotContain("\n", error.Message);
    }

    [Fact]
    public async Task A_wrong_option_stops_the_host_at_start_with_one_line_naming_the_connector()
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Services.AddPutshConnector("billing", o =>
        {
            o.Route = "billing";
            o.Target = "http://127.0.0.1:1";
        });
        using var host = builder.Build();

        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync()).DefaultTimeout();
        Assert.Contains("Connector 'billing': At least one router is required", error.Message);
        Assert.DoesNotContain("\n", error.Message);
    }

    private static void Configure(ConnectorOptions options, TestRouter router, string route, TestBackend backend)
    {
        options.Routers.Add(router.RegisterUri.ToString());
        options.Route = route;
        options.Target = backend.Uri.ToString();
        options.Sockets = 2;
    }

    /// <summary>GETs <paramref name="path"/> once the router serves it (a socket the connector sees may not be pooled yet).</summary>
    private static async Task<string> GetWhenRoutedAsync(TestRouter router, string path)
    {
        var deadline = DateTime.UtcNow + TestTimeouts.Default;
        while (true)
        {
            using var response = await router.Client.GetAsync(path).DefaultTimeout();
            if (response.StatusCode == HttpStatusCode.OK)
            {
                return await response.Content.ReadAsStringAsync().DefaultTimeout();
            }

            Assert.True(DateTime.UtcNow < deadline, $"{path} was never routed (last: {(int)response.StatusCode})");
            await Task.Delay(TimeSpan.FromMilliseconds(20));
        }
    }
}
