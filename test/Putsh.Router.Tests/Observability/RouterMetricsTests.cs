using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Putsh.Router.Observability;
using Putsh.Router.Tests.V3;
using Putsh.Tests.Common;
using Xunit.Abstractions;

namespace Putsh.Router.Tests.Observability;

/// <summary>The router's instruments, read after known traffic through a real router, connector and backend.</summary>
public sealed class RouterMetricsTests(ITestOutputHelper output)
{
    private static RouterMetrics Metrics(TestRouter router) => router.Services.GetRequiredService<RouterMetrics>();

    private static object? Tag<T>(CollectedMeasurement<T> m, string name)
        where T : struct => m.Tags.TryGetValue(name, out var value) ? value : null;

    [Theory]
    [InlineData("cranker_1.0")]
    [InlineData("cranker_3.0")]
    public async Task Each_request_is_measured_with_its_route_protocol_status_and_bytes_and_router_errors_with_their_cause(string protocol)
    {
        await using var backend = await TestBackend.StartAsync(app =>
        {
            app.MapGet("/svc/ok", () => "twelve bytes");
            app.MapGet("/svc/fail", (HttpContext c) => Results.StatusCode(500));
            app.MapPost("/svc/echo", async (HttpContext c) =>
            {
                using var reader = new StreamReader(c.Request.Body);
                return await reader.ReadToEndAsync();
            });
        }, output);
        await using var router = await TestRouter.StartAsync(output);
        var metrics = Metrics(router);
        using var durations = new MetricCollector<double>(metrics.Meter, "putsh.router.request.duration");
        using var errors = new MetricCollector<long>(metrics.Meter, "putsh.router.errors");
        using var io = new MetricCollector<long>(metrics.Meter, "putsh.router.io");
        await using var connector = await TestConnector.StartAsync(router, "svc", backend, output, protocol == "cranker_1.0" ? TestConnector.V1Only : TestConnector.V3Only);

        for (var i = 0; i < 3; i++)
        {
            Assert.Equal("twelve bytes", await router.Client.GetStringAsync("/svc/ok").DefaultTimeout());
        }

        using (var failed = await router.Client.GetAsync("/svc/fail").DefaultTimeout())
        {
            Assert.Equal(HttpStatusCode.InternalServerError, failed.StatusCode);
        }

        using (var echoed = await router.Client.PostAsync("/svc/echo", new StringContent("0123456789")).DefaultTimeout())
        {
            Assert.Equal("0123456789", await echoed.Content.ReadAsStringAsync().DefaultTimeout());
        }

        using (var missing = await router.Client.GetAsync("/nothing/here").DefaultTimeout())
        {
            Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        }

        await durations.WaitForMeasurementsAsync(6, TestTimeouts.Default);
        var all = durations.GetMeasurementSnapshot();
        Assert.Equal(6, all.Count);
        var served = all.Where(m => (string?)Tag(m, "http.route") == "svc").ToList();
        Assert.Equal(5, served.Count);
        Assert.All(served, m => Assert.Equal(protocol, Tag(m, "putsh.cranker.protocol")));
        Assert.All(served, m => Assert.Null(Tag(m, "error.type"))); // the connector answered each, a 500 included
        Assert.Equal(3, served.Count(m => (int?)Tag(m, "http.response.status_code") == 200 && (string?)Tag(m, "http.request.method") == "GET"));
        Assert.Single(served, m => (int?)Tag(m, "http.response.status_code") == 500);
        Assert.Single(served, m => (string?)Tag(m, "http.request.method") == "POST");
        Assert.All(all, m => Assert.InRange(m.Value, 0, TestTimeouts.Default.TotalSeconds));

        var notFound = Assert.Single(all, m => Tag(m, "http.route") is null);
        Assert.Equal((404, "no_route"), ((int?)Tag(notFound, "http.response.status_code"), (string?)Tag(notFound, "error.type")));
        var error = Assert.Single(errors.GetMeasurementSnapshot());
        Assert.Equal((1L, "no_route"), (error.Value, (string?)Tag(error, "error.type")));

        // Body bytes: 3 x 12 and 10 sent back (the 500 has an empty body), 10 received; totals, observed when asked.
        io.RecordObservableInstruments();
        var bytes = io.GetMeasurementSnapshot().Where(m => (string?)Tag(m, "http.route") == "svc").ToList();
        Assert.Equal(46, bytes.Where(m => (string?)Tag(m, "network.io.direction") == "transmit").Sum(m => m.Value));
        Assert.Equal(10, bytes.Where(m => (string?)Tag(m, "network.io.direction") == "receive").Sum(m => m.Value));
    }

    [Theory]
    [InlineData("cranker_1.0")]
    [InlineData("cranker_3.0")]
    public async Task Sockets_and_connector_instances_are_observed_by_route_protocol_and_state(string protocol)
    {
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var arrived = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var backend = await TestBackend.StartAsync(app => app.MapGet("/svc/hold", async () =>
        {
            arrived.TrySetResult();
            await release.Task.WaitAsync(TestTimeouts.Default);
            return "done";
        }), output);
        await using var router = await TestRouter.StartAsync(output);
        var metrics = Metrics(router);
        using var sockets = new MetricCollector<long>(metrics.Meter, "putsh.router.sockets");
        using var instances = new MetricCollector<long>(metrics.Meter, "putsh.router.connector.instances");
        using var registrations = new MetricCollector<long>(metrics.Meter, "putsh.router.registrations");
        await using var first = await TestConnector.StartAsync(router, "svc", backend, output, protocol == "cranker_1.0" ? TestConnector.V1Only : TestConnector.V3Only, sockets: 2);
        await using var second = await TestConnector.StartAsync(router, "svc", backend, output, protocol == "cranker_1.0" ? TestConnector.V1Only : TestConnector.V3Only, sockets: 2, name: "second");

        long Observed(string state)
        {
            sockets.RecordObservableInstruments();
            var latest = sockets.GetMeasurementSnapshot(clear: true);
            return latest.Where(m => (string?)Tag(m, "http.route") == "svc" && (string?)Tag(m, "putsh.cranker.protocol") == protocol && (string?)Tag(m, "putsh.socket.state") == state).Sum(m => m.Value);
        }

        await Eventually.True(() => Observed("idle") == 4, "four idle sockets observed");
        instances.RecordObservableInstruments();
        Assert.Equal(2, Assert.Single(instances.GetMeasurementSnapshot(), m => (string?)Tag(m, "http.route") == "svc").Value);
        Assert.True(registrations.GetMeasurementSnapshot().Count(m => (string?)Tag(m, "putsh.registration.outcome") == "accepted" && (string?)Tag(m, "putsh.cranker.protocol") == protocol) >= 4);

        // A request held by the backend makes one socket busy (a v1 socket is taken; a v3 socket has a stream).
        var held = router.Client.GetStringAsync("/svc/hold");
        await arrived.Task.DefaultTimeout();
        await Eventually.True(() => Observed("busy") == 1, "one busy socket observed");
        release.TrySetResult();
        Assert.Equal("done", await held.DefaultTimeout());
    }

    [Fact]
    public async Task A_v3_stream_is_counted_while_open_and_a_lost_socket_is_a_502_with_its_cause()
    {
        await using var router = await TestRouter.StartAsync(output);
        var metrics = Metrics(router);
        using var streams = new MetricCollector<long>(metrics.Meter, "putsh.router.v3.streams");
        using var errors = new MetricCollector<long>(metrics.Meter, "putsh.router.errors");
        await using var connector = await FakeV3Connector.ConnectAndWaitAsync(router, "svc", extensions: "flow-window=262144, no-head-ack");

        var call = router.Client.GetAsync("/svc/x");
        await connector.ReceiveFrameAsync(V3Bytes.Header);
        streams.RecordObservableInstruments();
        Assert.Equal(1, streams.LastMeasurement?.Value);

        // The head went out unacknowledged and the socket broke: may have been taken, so 502, not retried.
        connector.Socket.Abort();
        using var response = await call.DefaultTimeout();
        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
        await errors.WaitForMeasurementsAsync(1, TestTimeouts.Default);
        var error = Assert.Single(errors.GetMeasurementSnapshot());
        Assert.Equal(("socket_lost", 502, "svc", "cranker_3.0"), ((string?)Tag(error, "error.type"), (int?)Tag(error, "http.response.status_code"), (string?)Tag(error, "http.route"), (string?)Tag(error, "putsh.cranker.protocol")));
        streams.RecordObservableInstruments();
        Assert.Equal(0, streams.LastMeasurement?.Value);
    }

    [Fact]
    public async Task A_refused_registration_is_counted_with_its_reason()
    {
        await using var router = await TestRouter.StartAsync(output);
        using var registrations = new MetricCollector<long>(Metrics(router).Meter, "putsh.router.registrations");
        using var client = new HttpClient();
        using var response = await client.GetAsync(new Uri(router.RegisterUri.ToString().Replace("ws://", "http://", StringComparison.Ordinal) + "register/?route=a%20b")).DefaultTimeout();
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var refused = Assert.Single(registrations.GetMeasurementSnapshot());
        Assert.Equal(("refused", "bad_request"), ((string?)Tag(refused, "putsh.registration.outcome"), (string?)Tag(refused, "error.type")));
    }
}
