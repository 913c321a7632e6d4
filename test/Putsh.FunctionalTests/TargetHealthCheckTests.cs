using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;
using Putsh.Connector;
using Putsh.Tests.Common;
using Xunit.Abstractions;

namespace Putsh.FunctionalTests;

/// <summary>Active health (<see cref="ConnectorOptions.TargetHealth"/>): a failing backend takes its connector dark, a recovered one brings it back.</summary>
public sealed class TargetHealthCheckTests(ITestOutputHelper output)
{
    [Fact]
    public async Task A_backend_failing_its_health_check_twice_is_deregistered_until_it_passes_again()
    {
        var healthy = true;
        await using var backend = await TestBackend.StartAsync(app =>
        {
            app.MapGet("/healthz", () => healthy ? Results.Ok() : Results.StatusCode(500));
            app.MapGet("/svc/hi", () => "hi");
        }, output);
        await using var router = await TestRouter.StartAsync(output);
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var options = new ConnectorOptions { Route = "svc", Target = backend.Uri.ToString(), Sockets = 2, TargetHealth = "/healthz", TargetHealthInterval = TimeSpan.FromSeconds(1) };
        options.Routers.Add(router.RegisterUri.ToString());
        TestConnector.V3Only(options);
        using var logs = LoggerFactory.Create(b => b.AddProvider(new XunitLoggerProvider(output, "connector")).SetMinimumLevel(LogLevel.Debug));
        await using var connector = new CrankerConnector(options, logs, time);
        await connector.StartAsync();
        await Eventually.True(() => router.V3Pool("svc")?.Count == 2, "the connector's sockets registered");
        Assert.Equal("hi", await router.Client.GetStringAsync("/svc/hi").DefaultTimeout());

        // One failed check is not enough; the second takes the connector dark and its sockets off the router.
        healthy = false;
        await TickAsync(connector, time, 1);
        Assert.False(connector.IsDark);
        await TickAsync(connector, time, 2);
        Assert.True(connector.IsDark);
        await Eventually.True(() => router.V3Pool("svc")?.Count == 0, "the router to have no socket of the route");
        using (var refused = await router.Client.GetAsync("/svc/hi").DefaultTimeout())
        {
            // The route is remembered (RoutesKeepTime): 503, not 404, while its only instance is dark.
            Assert.Equal(HttpStatusCode.ServiceUnavailable, refused.StatusCode);
        }

        // The first passing check registers it again.
        healthy = true;
        await TickAsync(connector, time, 3);
        Assert.False(connector.IsDark);
        await Eventually.True(() => router.V3Pool("svc")?.Count == 2, "the connector's sockets registered again");
        Assert.Equal("hi", await router.Client.GetStringAsync("/svc/hi").DefaultTimeout());
    }

    /// <summary>Advances the connector's clock by one interval and waits for check number <paramref name="check"/> to be done.</summary>
    private static async Task TickAsync(CrankerConnector connector, FakeTimeProvider time, int check)
    {
        time.Advance(TimeSpan.FromSeconds(1));
        await Eventually.True(() => connector.HealthChecks >= check, $"health check {check}");
    }
}
