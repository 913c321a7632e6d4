using System.Net;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Putsh.Cli.Commands;
using Putsh.Cli.Hosting;
using Putsh.Connector;
using Putsh.Tests.Common;
using Xunit.Abstractions;

namespace Putsh.Cli.Tests;

/// <summary>The connector executable's admin listener: health, metrics and its own state.</summary>
public sealed partial class ConnectorAdminTests(ITestOutputHelper output)
{
    [Fact]
    public async Task The_connector_process_reports_live_then_ready_once_registered_and_serves_metrics_and_its_state()
    {
        await using var backend = await TestBackend.StartAsync(app => app.MapGet("/svc/{n}", (string n) => "hi " + n), output);
        await using var router = await TestRouter.StartAsync(output);
        await using var connector = PutshProcess.Start(output, "connector", "--routers", router.RegisterUri.ToString(), "--route", "svc",
            "--target", backend.Uri.ToString(), "--sockets", "3", "--admin", "http://127.0.0.1:0");
        var line = await connector.WaitForLineAsync(l => l.Contains("Connector admin on ", StringComparison.Ordinal));
        var admin = new Uri(AdminUrl().Match(line).Groups[1].Value);
        using var client = new HttpClient { BaseAddress = admin };

        using (var live = await client.GetAsync("/health/live").DefaultTimeout())
        {
            Assert.Equal(HttpStatusCode.OK, live.StatusCode);
        }

        await Eventually.True(() => client.GetAsync("/health/ready").GetAwaiter().GetResult().StatusCode == HttpStatusCode.OK, "ready once registered");
        Assert.Contains("registered with 1 of 1 routers", await client.GetStringAsync("/health/ready").DefaultTimeout(), StringComparison.Ordinal);

        Assert.Equal("hi 1", await router.Client.GetStringAsync("/svc/1").DefaultTimeout());
        var metrics = "";
        await Eventually.True(() => (metrics = client.GetStringAsync("/metrics").GetAwaiter().GetResult()).Contains("putsh_connector_request_duration_seconds_count", StringComparison.Ordinal), "the request measured");
        Assert.Matches(@"putsh_connector_sockets\{[^}]*putsh_socket_state=""idle""[^}]*\} 3", metrics);

        using var state = JsonDocument.Parse(await client.GetStringAsync("/api/connector").DefaultTimeout());
        Assert.Equal(1, state.RootElement.GetProperty("version").GetInt32());
        var routerState = Assert.Single(state.RootElement.GetProperty("routers").EnumerateArray().ToList());
        Assert.Equal(3, routerState.GetProperty("idleSockets").GetInt32());
        Assert.Equal("cranker_3.0", routerState.GetProperty("protocol").GetString());
    }

    [Fact]
    public async Task Readiness_fails_once_every_target_call_has_failed_for_the_configured_time_and_recovers_with_a_success()
    {
        var up = false;
        await using var backend = await TestBackend.StartAsync(app => app.MapGet("/svc/x", () => up ? Results.Ok("up") : Results.StatusCode(503)), output);
        await using var router = await TestRouter.StartAsync(output);
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var options = new ConnectorOptions { Route = "svc", Target = backend.Uri.ToString(), Sockets = 2 };
        options.Routers.Add(router.RegisterUri.ToString());
        TestConnector.V3Only(options);
        using var host = ConnectorCommand.Build(options, Microsoft.Extensions.Logging.LogLevel.Warning,
            new ConnectorHostSettings { Admin = ["http://127.0.0.1:0"], TargetUnhealthyAfter = TimeSpan.FromSeconds(30), Time = time });
        await host.StartAsync();
        try
        {
            var admin = new Uri(host.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());
            using var client = new HttpClient { BaseAddress = admin };
            await Eventually.True(() => client.GetAsync("/health/ready").GetAwaiter().GetResult().StatusCode == HttpStatusCode.OK, "ready once registered");

            // The target answers 503: failing from now, but not yet for long enough.
            using (var failed = await router.Client.GetAsync("/svc/x").DefaultTimeout())
            {
                Assert.Equal(HttpStatusCode.ServiceUnavailable, failed.StatusCode);
            }

            time.Advance(TimeSpan.FromSeconds(29));
            Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/health/ready").DefaultTimeout()).StatusCode);
            time.Advance(TimeSpan.FromSeconds(2));
            using (var notReady = await client.GetAsync("/health/ready").DefaultTimeout())
            {
                Assert.Equal(HttpStatusCode.ServiceUnavailable, notReady.StatusCode);
                Assert.Contains("every target call has failed for 31 s", await notReady.Content.ReadAsStringAsync().DefaultTimeout(), StringComparison.Ordinal);
            }

            // One success and it is ready again.
            up = true;
            Assert.Equal("\"up\"", await router.Client.GetStringAsync("/svc/x").DefaultTimeout());
            Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/health/ready").DefaultTimeout()).StatusCode);
        }
        finally
        {
            await host.StopAsync();
        }
    }

    [GeneratedRegex(@"Connector admin on (http://[^ ,]+)")]
    private static partial Regex AdminUrl();
}
