using System.Collections.Concurrent;
using System.Diagnostics;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Putsh.Cli.Tests;
using Putsh.Tests.Common;
using Xunit.Abstractions;

namespace Putsh.FunctionalTests;

[CollectionDefinition(nameof(TracingTests), DisableParallelization = true)]
public sealed class TracingCollection;

/// <summary>
/// W3C trace context through router, tunnel and connector to the backend. Activity listeners are process-wide, so
/// these tests run on their own, with no other test's requests to confuse them.
/// </summary>
[Collection(nameof(TracingTests))]
public sealed class TracingTests(ITestOutputHelper output)
{
    private const string TraceId = "4bf92f3577b34da6a3ce929d0e0e4736";
    private const string ClientSpanId = "00f067aa0ba902b7";
    private const string ClientTraceParent = "00-" + TraceId + "-" + ClientSpanId + "-01";

    private async Task<(TestBackend Backend, ConcurrentQueue<string> Seen)> BackendAsync()
    {
        var seen = new ConcurrentQueue<string>();
        var backend = await TestBackend.StartAsync(app => app.MapGet("/svc/{n}", (HttpContext c, string n) =>
        {
            seen.Enqueue(c.Request.Headers.TraceParent.ToString());
            return "traced " + n;
        }), output);
        return (backend, seen);
    }

    [Theory]
    [InlineData("cranker_1.0")]
    [InlineData("cranker_3.0")]
    public async Task A_client_trace_continues_through_the_router_the_tunnel_the_connector_and_its_backend_call(string protocol)
    {
        var stopped = new ConcurrentQueue<Activity>();
        using var listener = new ActivityListener
        {
            ShouldListenTo = s => s.Name is "Putsh.Router" or "Putsh.Connector" or "System.Net.Http",
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = stopped.Enqueue,
        };
        ActivitySource.AddActivityListener(listener);

        var (backend, seen) = await BackendAsync();
        await using var _ = backend;
        await using var router = await CliTestRouter.StartAsync(output);
        await using var connector = await TestConnector.StartAsync(router, "svc", backend, output, protocol == "cranker_1.0" ? TestConnector.V1Only : TestConnector.V3Only);

        using var request = new HttpRequestMessage(HttpMethod.Get, "/svc/1");
        request.Headers.TryAddWithoutValidation("traceparent", ClientTraceParent);
        using var response = await router.Client.SendAsync(request).DefaultTimeout();
        Assert.Equal("traced 1", await response.Content.ReadAsStringAsync().DefaultTimeout());

        // Spans stop as each side finishes, just after the response went out.
        Activity? routerSpan = null, connectorSpan = null, backendCall = null;
        using var report = new Reporter(output, stopped, seen);
        await Eventually.True(() =>
        {
            var ours = stopped.Where(a => a.TraceId.ToHexString() == TraceId).ToList();
            routerSpan = ours.FirstOrDefault(a => a.Source.Name == "Putsh.Router");
            connectorSpan = ours.FirstOrDefault(a => a.Source.Name == "Putsh.Connector");
            backendCall = connectorSpan is null ? null : ours.FirstOrDefault(a => a.Source.Name == "System.Net.Http" && a.ParentSpanId == connectorSpan.SpanId);
            return routerSpan is not null && connectorSpan is not null && backendCall is not null;
        }, "router, connector and backend-call spans in the client's trace");

        // The router continues the client's trace; the connector continues the router's span (carried in the head);
        // the backend call is the connector's child, and the backend sees that call's context.
        // (Its parent is ASP.NET Core's server span where one was made, itself the client's child.)
        Assert.Equal(ActivityKind.Client, routerSpan!.Kind);
        Assert.Equal(("svc", protocol, 200), ((string?)routerSpan.GetTagItem("http.route"), (string?)routerSpan.GetTagItem("putsh.cranker.protocol"), (int?)routerSpan.GetTagItem("http.response.status_code")));
        Assert.Equal(routerSpan.SpanId, connectorSpan!.ParentSpanId);
        Assert.Equal(ActivityKind.Server, connectorSpan.Kind);
        Assert.Equal(200, connectorSpan.GetTagItem("http.response.status_code"));
        var sent = Assert.Single(seen);
        Assert.Equal($"00-{TraceId}-{backendCall!.SpanId.ToHexString()}-01", sent);
    }

    /// <summary>On the way out, says which spans were seen: what a failure needs to be understood.</summary>
    private sealed class Reporter(ITestOutputHelper output, ConcurrentQueue<Activity> stopped, ConcurrentQueue<string> seen) : IDisposable
    {
        public void Dispose()
        {
            foreach (var a in stopped)
            {
                output.WriteLine($"span {a.Source.Name} {a.DisplayName} {a.Kind} trace {a.TraceId} span {a.SpanId} parent {a.ParentSpanId}");
            }

            output.WriteLine("backend saw traceparent: " + string.Join(" | ", seen));
        }
    }

    [Fact]
    public async Task With_nothing_listening_no_span_is_made_and_the_client_trace_context_reaches_the_backend_unchanged()
    {
        var (backend, seen) = await BackendAsync();
        await using var _ = backend;
        await using var router = await CliTestRouter.StartAsync(output);
        await using var connector = await TestConnector.StartAsync(router, "svc", backend, output, TestConnector.V3Only);

        using var request = new HttpRequestMessage(HttpMethod.Get, "/svc/2");
        request.Headers.TryAddWithoutValidation("traceparent", ClientTraceParent);
        using var response = await router.Client.SendAsync(request).DefaultTimeout();
        Assert.Equal("traced 2", await response.Content.ReadAsStringAsync().DefaultTimeout());
        Assert.Equal(ClientTraceParent, Assert.Single(seen));
    }
}
