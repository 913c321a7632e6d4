using System.Diagnostics.Metrics;
using System.Net;
using System.Net.Sockets;
using System.Net.WebSockets;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Microsoft.Extensions.Logging;
using Putsh.Connector.Tests.V3;
using Putsh.Tests.Common;
using Xunit.Abstractions;

namespace Putsh.Connector.Tests;

/// <summary>
/// The connector's instruments (docs/metrics.md), read after known traffic through a real router and backend.
/// Every collector is scoped to its own connector's meter (or its own service provider's meter factory), so tests
/// running in parallel never see each other's measurements.
/// </summary>
public sealed class ConnectorMetricsTests(ITestOutputHelper output)
{
    private const string Route = "metrics";

    public static TheoryData<string> Protocols => new() { "cranker_1.0", "cranker_3.0" };

    private static Action<ConnectorOptions> Only(string protocol) => protocol == "cranker_1.0" ? TestConnector.V1Only : TestConnector.V3Only;

    [Theory]
    [MemberData(nameof(Protocols))]
    public async Task Request_and_backend_durations_have_one_measurement_per_request_with_method_status_and_protocol(string protocol)
    {
        await using var backend = await TestBackend.StartAsync(app => app.Run(context =>
        {
            context.Response.StatusCode = context.Request.Path == "/metrics/fail" ? 500 : 200;
            return context.Response.WriteAsync("answered");
        }), output);
        await using var router = await TestRouter.StartAsync(output);
        var connector = await TestConnector.StartAsync(router, Route, backend, output, Only(protocol));
        await using var teardown = new ConnectorDisposer(connector);
        using var requests = new MetricCollector<double>(connector.Metrics.Meter, ConnectorMetrics.RequestDurationName);
        using var backendCalls = new MetricCollector<double>(connector.Metrics.Meter, ConnectorMetrics.BackendDurationName);
        using var failures = new MetricCollector<long>(connector.Metrics.Meter, ConnectorMetrics.BackendFailuresName);

        for (var i = 0; i < 3; i++)
        {
            using var ok = await router.Client.GetAsync(new Uri("/metrics/ok", UriKind.Relative));
            Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        }

        using (var fail = await router.Client.GetAsync(new Uri("/metrics/fail", UriKind.Relative)))
        {
            Assert.Equal(HttpStatusCode.InternalServerError, fail.StatusCode);
        }

        // The client may see a response a moment before the connector has recorded its end.
        await requests.WaitForMeasurementsAsync(4, TestTimeouts.Default);
        var measured = requests.GetMeasurementSnapshot();
        Assert.Equal(4, measured.Count);
        Assert.All(measured, m =>
        {
            Assert.Equal("GET", m.Tags[ConnectorMetrics.MethodTag]);
            Assert.Equal(protocol, m.Tags[ConnectorMetrics.ProtocolTag]);
            Assert.False(m.Tags.ContainsKey(ConnectorMetrics.ErrorTypeTag));
            Assert.True(m.Value is > 0 and < 30);
        });
        Assert.Equal(3, measured.Count(m => Equals(m.Tags[ConnectorMetrics.StatusCodeTag], 200)));
        Assert.Equal(1, measured.Count(m => Equals(m.Tags[ConnectorMetrics.StatusCodeTag], 500)));

        var calls = backendCalls.GetMeasurementSnapshot();
        Assert.Equal(4, calls.Count);
        Assert.All(calls, m => Assert.Equal("GET", m.Tags[ConnectorMetrics.MethodTag]));
        Assert.Equal(3, calls.Count(m => Equals(m.Tags[ConnectorMetrics.StatusCodeTag], 200)));
        Assert.Equal(1, calls.Count(m => Equals(m.Tags[ConnectorMetrics.StatusCodeTag], 500)));
        Assert.Empty(failures.GetMeasurementSnapshot());
    }

    [Theory]
    [MemberData(nameof(Protocols))]
    public async Task A_backend_that_is_down_counts_connect_failed_on_the_failure_counter_and_both_durations(string protocol)
    {
        var deadBackend = new Uri($"http://127.0.0.1:{ClosedPort()}/");
        await using var router = await TestRouter.StartAsync(output);
        var connector = await TestConnector.StartAsync([router.RegisterUri], Route, deadBackend, output, Only(protocol));
        await using var teardown = new ConnectorDisposer(connector);
        using var failures = new MetricCollector<long>(connector.Metrics.Meter, ConnectorMetrics.BackendFailuresName);
        using var requests = new MetricCollector<double>(connector.Metrics.Meter, ConnectorMetrics.RequestDurationName);
        using var backendCalls = new MetricCollector<double>(connector.Metrics.Meter, ConnectorMetrics.BackendDurationName);

        using var response = await router.Client.GetAsync(new Uri("/metrics/anything", UriKind.Relative));
        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);

        await requests.WaitForMeasurementsAsync(1, TestTimeouts.Default);
        var failure = Assert.Single(failures.GetMeasurementSnapshot());
        Assert.Equal(1, failure.Value);
        Assert.Equal(ConnectorMetrics.ConnectFailed, failure.Tags[ConnectorMetrics.ErrorTypeTag]);

        var request = Assert.Single(requests.GetMeasurementSnapshot());
        Assert.Equal(ConnectorMetrics.ConnectFailed, request.Tags[ConnectorMetrics.ErrorTypeTag]);
        Assert.Equal(protocol, request.Tags[ConnectorMetrics.ProtocolTag]);
        Assert.False(request.Tags.ContainsKey(ConnectorMetrics.StatusCodeTag)); // the router answered 502, not the connector

        var call = Assert.Single(backendCalls.GetMeasurementSnapshot());
        Assert.Equal(ConnectorMetrics.ConnectFailed, call.Tags[ConnectorMetrics.ErrorTypeTag]);
        Assert.False(call.Tags.ContainsKey(ConnectorMetrics.StatusCodeTag));
    }

    [Theory]
    [MemberData(nameof(Protocols))]
    public async Task The_sockets_gauge_shows_each_routers_idle_sockets_after_registration(string protocol)
    {
        await using var backend = await TestBackend.StartAsync(app => app.Run(_ => Task.CompletedTask), output);
        await using var router1 = await TestRouter.StartAsync(output, name: "router1");
        await using var router2 = await TestRouter.StartAsync(output, name: "router2");
        var connector = await TestConnector.StartAsync([router1.RegisterUri, router2.RegisterUri], Route, backend.Uri, output, Only(protocol), sockets: 3);
        await using var teardown = new ConnectorDisposer(connector);
        using var sockets = new MetricCollector<long>(connector.Metrics.Meter, ConnectorMetrics.SocketsName);
        var names = connector.Routers.Select(r => r.Router).Order(StringComparer.Ordinal).ToArray();
        Assert.Equal(2, names.Length);

        await Eventually.True(() => SocketCounts(sockets).Count(c => c.Value == 3 && c.Key.State == ConnectorMetrics.Idle) == 2, "3 idle sockets on each router");
        var counts = SocketCounts(sockets);
        foreach (var name in names)
        {
            Assert.Equal(3, counts[(name, protocol, ConnectorMetrics.Idle)]);
            Assert.Equal(0, counts[(name, protocol, ConnectorMetrics.Busy)]);
        }

        Assert.Equal(4, counts.Count); // idle and busy for each router, only for the protocol in use
    }

    [Theory]
    [MemberData(nameof(Protocols))]
    public async Task Active_requests_are_one_while_the_backend_holds_a_request_and_zero_after(string protocol)
    {
        var entered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var backend = await TestBackend.StartAsync(app => app.Run(async context =>
        {
            entered.TrySetResult();
            await release.Task;
            await context.Response.WriteAsync("done");
        }), output);
        await using var router = await TestRouter.StartAsync(output);
        var connector = await TestConnector.StartAsync(router, Route, backend, output, Only(protocol));
        await using var teardown = new ConnectorDisposer(connector);
        using var active = new MetricCollector<long>(connector.Metrics.Meter, ConnectorMetrics.ActiveRequestsName);
        using var sockets = new MetricCollector<long>(connector.Metrics.Meter, ConnectorMetrics.SocketsName);

        var call = router.Client.GetAsync(new Uri("/metrics/slow", UriKind.Relative));
        await entered.Task.DefaultTimeout();
        // Observed when a collector asks: one value per protocol.
        long Active()
        {
            active.RecordObservableInstruments();
            return active.GetMeasurementSnapshot(clear: true).Single(m => (string?)m.Tags[ConnectorMetrics.ProtocolTag] == protocol).Value;
        }

        Assert.Equal(1, Active());
        var name = connector.Routers[0].Router;
        Assert.Equal(1, SocketCounts(sockets)[(name, protocol, ConnectorMetrics.Busy)]);

        release.SetResult();
        using (var response = await call.DefaultTimeout())
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        await Eventually.True(() => Active() == 0, "the request to end");
    }

    [Fact]
    public async Task A_refused_registration_is_counted_with_its_status_and_backs_off()
    {
        await using var router = await TestRouter.StartAsync(output, o => o.RegistrationTokens.Add("the-right-token-0123456789"));
        await using var connector = Create([router.RegisterUri], new Uri("http://127.0.0.1:1/"), o => o.Token = "a-wrong-token-0123456789");
        using var registrations = new MetricCollector<long>(connector.Metrics.Meter, ConnectorMetrics.RegistrationsName);
        using var backoff = new MetricCollector<double>(connector.Metrics.Meter, ConnectorMetrics.BackoffDurationName);
        await connector.StartAsync().DefaultTimeout();

        await registrations.WaitForMeasurementsAsync(1, TestTimeouts.Default);
        var attempt = registrations.GetMeasurementSnapshot()[0];
        Assert.Equal(1, attempt.Value);
        Assert.Equal(ConnectorMetrics.Refused, attempt.Tags[ConnectorMetrics.OutcomeTag]);
        Assert.Contains(attempt.Tags[ConnectorMetrics.ErrorTypeTag], new object?[] { "401", "403" });
        Assert.Equal(connector.Routers[0].Router, attempt.Tags[ConnectorMetrics.RouterTag]);
        Assert.DoesNotContain(registrations.GetMeasurementSnapshot(), m => Equals(m.Tags[ConnectorMetrics.OutcomeTag], ConnectorMetrics.Accepted));

        // A refusal waits the longest delay (0.5 s here, minus up to half of it for jitter).
        await backoff.WaitForMeasurementsAsync(1, TestTimeouts.Default);
        Assert.All(backoff.GetMeasurementSnapshot(), m => Assert.InRange(m.Value, 0.25, 0.5));
    }

    [Fact]
    public async Task A_router_that_is_down_counts_failed_registrations_with_connect_failed_and_backoff_delays()
    {
        var deadRouter = new Uri($"ws://127.0.0.1:{ClosedPort()}");
        await using var connector = Create([deadRouter], new Uri("http://127.0.0.1:1/"));
        using var registrations = new MetricCollector<long>(connector.Metrics.Meter, ConnectorMetrics.RegistrationsName);
        using var backoff = new MetricCollector<double>(connector.Metrics.Meter, ConnectorMetrics.BackoffDurationName);
        using var reconnects = new MetricCollector<long>(connector.Metrics.Meter, ConnectorMetrics.ReconnectsName);
        await connector.StartAsync().DefaultTimeout();

        await backoff.WaitForMeasurementsAsync(2, TestTimeouts.Default);
        var attempts = registrations.GetMeasurementSnapshot();
        Assert.NotEmpty(attempts);
        Assert.All(attempts, m =>
        {
            Assert.Equal(ConnectorMetrics.Failed, m.Tags[ConnectorMetrics.OutcomeTag]);
            Assert.Equal(ConnectorMetrics.ConnectFailed, m.Tags[ConnectorMetrics.ErrorTypeTag]);
            Assert.Equal("ws://127.0.0.1:" + deadRouter.Port, m.Tags[ConnectorMetrics.RouterTag]);
        });
        Assert.All(backoff.GetMeasurementSnapshot(), m => Assert.InRange(m.Value, 0.025, 0.5));
        Assert.Empty(reconnects.GetMeasurementSnapshot());
    }

    [Fact]
    public async Task A_socket_lost_to_the_router_is_counted_as_a_reconnect_when_it_is_replaced()
    {
        await using var backend = await TestBackend.StartAsync(app => app.Run(_ => Task.CompletedTask), output);
        await using var router = await FakeRouter.StartAsync(output);
        await using var connector = Create([router.RegisterUri], backend.Uri, TestConnector.V1Only, sockets: 1);
        using var reconnects = new MetricCollector<long>(connector.Metrics.Meter, ConnectorMetrics.ReconnectsName);
        using var registrations = new MetricCollector<long>(connector.Metrics.Meter, ConnectorMetrics.RegistrationsName);
        await connector.StartAsync().DefaultTimeout();
        var socket = await router.NextSocketAsync();
        await Eventually.True(() => registrations.GetMeasurementSnapshot().Count == 1, "the first registration");
        Assert.Empty(reconnects.GetMeasurementSnapshot());

        await socket.CloseOutputAsync(WebSocketCloseStatus.EndpointUnavailable, "Going away");
        await socket.ReceiveAsync();
        socket.Release();
        await router.NextSocketAsync();

        await reconnects.WaitForMeasurementsAsync(1, TestTimeouts.Default);
        var reconnect = Assert.Single(reconnects.GetMeasurementSnapshot());
        Assert.Equal(1, reconnect.Value);
        Assert.Equal(router.RegisterUri.GetLeftPart(UriPartial.Authority), reconnect.Tags[ConnectorMetrics.RouterTag]);
        Assert.All(registrations.GetMeasurementSnapshot(), m => Assert.Equal(ConnectorMetrics.Accepted, m.Tags[ConnectorMetrics.OutcomeTag]));
    }

    [Fact]
    public async Task A_connector_from_DI_gets_its_meter_from_the_hosts_meter_factory()
    {
        await using var backend = await TestBackend.StartAsync(app => app.Run(_ => Task.CompletedTask), output);
        await using var router = await TestRouter.StartAsync(output);
        var services = new ServiceCollection();
        services.AddMetrics();
        services.AddLogging(b => b.AddProvider(new XunitLoggerProvider(output, "connector")));
        services.AddPutshConnector(o =>
        {
            o.Route = Route;
            o.Target = backend.Uri.ToString();
            o.Routers.Add(router.RegisterUri.ToString());
            o.Sockets = 2;
        });
        await using var provider = services.BuildServiceProvider();
        var meterFactory = provider.GetRequiredService<IMeterFactory>();
        using var registrations = new MetricCollector<long>(meterFactory, ConnectorMeter.Name, ConnectorMetrics.RegistrationsName);
        var connector = provider.GetRequiredService<CrankerConnector>();
        Assert.Same(meterFactory, connector.Metrics.Meter.Scope);
        Assert.Equal(ConnectorMeter.Name, connector.Metrics.Meter.Name);

        await connector.StartAsync().DefaultTimeout();
        await connector.WaitForIdleSocketsAsync(2, TestTimeouts.Token()).DefaultTimeout();
        await registrations.WaitForMeasurementsAsync(2, TestTimeouts.Default);
        Assert.All(registrations.GetMeasurementSnapshot(), m =>
        {
            Assert.Equal(ConnectorMetrics.Accepted, m.Tags[ConnectorMetrics.OutcomeTag]);
            Assert.False(m.Tags.ContainsKey(ConnectorMetrics.ErrorTypeTag));
        });
        Assert.True(await connector.StopAsync().DefaultTimeout());
    }

    [Fact]
    public void Methods_outside_the_standard_set_are_reported_as_OTHER()
    {
        Assert.Equal("GET", ConnectorMetrics.KnownMethod("GET"));
        Assert.Equal("PATCH", ConnectorMetrics.KnownMethod("PATCH"));
        Assert.Equal("_OTHER", ConnectorMetrics.KnownMethod("PROPFIND"));
        Assert.Equal("_OTHER", ConnectorMetrics.KnownMethod("get"));
    }

    /// <summary>The latest value of each socket series: (router, protocol, state) → count.</summary>
    private static Dictionary<(string Router, string Protocol, string State), long> SocketCounts(MetricCollector<long> sockets)
    {
        sockets.Clear();
        sockets.RecordObservableInstruments();
        return sockets.GetMeasurementSnapshot().ToDictionary(
            m => ((string)m.Tags[ConnectorMetrics.RouterTag]!, (string)m.Tags[ConnectorMetrics.ProtocolTag]!, (string)m.Tags[ConnectorMetrics.SocketStateTag]!),
            m => m.Value);
    }

    /// <summary>A connector built directly (not started), so a test can scope collectors to its meter before it dials.</summary>
    private CrankerConnector Create(IEnumerable<Uri> routers, Uri target, Action<ConnectorOptions>? configure = null, int sockets = 2) =>
        TestConnector.Create(routers, Route, target, output, configure, sockets);

    /// <summary>A loopback port that nothing listens on (bound, then released).</summary>
    private static int ClosedPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }
}
