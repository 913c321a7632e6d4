using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Builder;
using Putsh.Tests.Common;
using Xunit.Abstractions;

namespace Putsh.Cli.Tests;

/// <summary>The executable's <c>/metrics</c>: Prometheus text from the OpenTelemetry SDK, putsh's and the framework's.</summary>
public sealed partial class MetricsEndpointTests(ITestOutputHelper output)
{
    [Fact]
    public async Task The_router_admin_listener_serves_prometheus_metrics_that_count_known_traffic()
    {
        await using var backend = await TestBackend.StartAsync(app => app.MapGet("/svc/{n}", (string n) => "hello " + n), output);
        var (router, clients, register, admin) = await PutshProcess.StartRouterAsync(output, "--admin", "http://127.0.0.1:0", "--framework-metrics", "true");
        await using var _ = router;
        Assert.NotNull(admin);
        await using var connector = await TestConnector.StartAsync([register], "svc", backend.Uri, output, TestConnector.V3Only, sockets: 2);
        using var client = new HttpClient { BaseAddress = clients };
        for (var i = 0; i < 3; i++)
        {
            Assert.Equal("hello " + i, await client.GetStringAsync($"/svc/{i}").DefaultTimeout());
        }

        using var scraper = new HttpClient { BaseAddress = admin };
        var text = "";
        await Eventually.True(() =>
        {
            text = scraper.GetStringAsync("/metrics").GetAwaiter().GetResult();
            return RequestCount(text) == 3;
        }, "three requests counted on /metrics");

        // The duration histogram with OpenTelemetry's buckets, the socket gauge, and the framework's meters alongside.
        Assert.Matches(@"putsh_router_request_duration_seconds_bucket\{[^}]*http_route=""svc""[^}]*le=""0.005""[^}]*\} \d+", text);
        Assert.Matches(@"putsh_router_sockets\{[^}]*http_route=""svc""[^}]*putsh_socket_state=""idle""[^}]*\} 2", text);
        Assert.Matches(@"putsh_router_registrations_total\{[^}]*putsh_registration_outcome=""accepted""[^}]*\} [2-9]", text);
        Assert.Contains("http_server_request_duration_seconds", text, StringComparison.Ordinal);
        Assert.Contains("kestrel_", text, StringComparison.Ordinal);
        Assert.Contains("dotnet_gc_", text, StringComparison.Ordinal);
        Assert.StartsWith("text/plain", (await scraper.GetAsync("/metrics").DefaultTimeout()).Content.Headers.ContentType?.MediaType, StringComparison.Ordinal);

        // The state API on the same listener: JSON, the route with its connector and the three requests.
        using var routes = await scraper.GetAsync("/api/routes").DefaultTimeout();
        Assert.Equal("application/json", routes.Content.Headers.ContentType?.MediaType);
        using var json = System.Text.Json.JsonDocument.Parse(await routes.Content.ReadAsStringAsync().DefaultTimeout());
        var route = json.RootElement.GetProperty("routes").EnumerateArray().Single(r => r.GetProperty("route").GetString() == "svc");
        Assert.Equal(1, json.RootElement.GetProperty("version").GetInt32());
        Assert.Equal(3, route.GetProperty("counters").GetProperty("requests").GetInt64());
        var instance = route.GetProperty("connectors").EnumerateArray().Single();
        Assert.Equal("cranker_3.0", instance.GetProperty("protocol").GetString());
        using var one = await scraper.GetAsync("/api/connectors/" + instance.GetProperty("instanceId").GetString()).DefaultTimeout();
        Assert.Equal(System.Net.HttpStatusCode.OK, one.StatusCode);
        Assert.Equal(2, System.Text.Json.JsonDocument.Parse(await one.Content.ReadAsStringAsync()).RootElement.GetProperty("sockets").GetArrayLength());
        using var none = await scraper.GetAsync("/api/connectors/nobody").DefaultTimeout();
        Assert.Equal(System.Net.HttpStatusCode.NotFound, none.StatusCode);
        using var post = await scraper.PostAsync("/api/routes", null).DefaultTimeout();
        Assert.Equal(System.Net.HttpStatusCode.MethodNotAllowed, post.StatusCode);
    }

    [Fact]
    public async Task By_default_the_per_request_framework_meters_are_left_out_and_the_cheap_ones_exported()
    {
        var (router, clients, _, admin) = await PutshProcess.StartRouterAsync(output, "--admin", "http://127.0.0.1:0");
        await using var _ = router;
        using var client = new HttpClient { BaseAddress = clients };
        using (var missing = await client.GetAsync("/nowhere/x").DefaultTimeout())
        {
            Assert.Equal(System.Net.HttpStatusCode.NotFound, missing.StatusCode);
        }

        using var scraper = new HttpClient { BaseAddress = admin };
        var text = "";
        await Eventually.True(() => (text = scraper.GetStringAsync("/metrics").GetAwaiter().GetResult()).Contains("putsh_router_errors_total", StringComparison.Ordinal), "the 404 counted");
        Assert.DoesNotContain("http_server_request_duration_seconds", text, StringComparison.Ordinal);
        Assert.Contains("kestrel_active_connections", text, StringComparison.Ordinal);
        Assert.Contains("dotnet_gc_", text, StringComparison.Ordinal);
    }

    private static int RequestCount(string text)
    {
        var match = RequestCountLine().Match(text);
        return match.Success ? int.Parse(match.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture) : -1;
    }

    // Labels come in name order: http_response_status_code before http_route.
    [GeneratedRegex(@"putsh_router_request_duration_seconds_count\{[^}]*http_response_status_code=""200""[^}]*http_route=""svc""[^}]*\} (\d+)")]
    private static partial Regex RequestCountLine();
}

/// <summary>OTLP export, switched on by the standard environment variables, received by a stand-in collector.</summary>
public sealed class OtlpExportTests(ITestOutputHelper output)
{
    [Fact]
    public async Task With_OTEL_EXPORTER_OTLP_ENDPOINT_set_the_router_exports_metrics_and_spans_over_OTLP()
    {
        var received = new System.Collections.Concurrent.ConcurrentDictionary<string, int>();
        await using var collector = await TestBackend.StartAsync(app => app.MapPost("/v1/{signal}", async (Microsoft.AspNetCore.Http.HttpContext c, string signal) =>
        {
            // OTLP/HTTP: protobuf bodies, one per export; an empty 200 is a full success.
            using var body = new MemoryStream();
            await c.Request.Body.CopyToAsync(body);
            output.WriteLine($"collector: {c.Request.Path} {c.Request.ContentType} {body.Length} bytes");
            if (c.Request.ContentType == "application/x-protobuf" && body.Length > 0)
            {
                received.AddOrUpdate(signal, 1, (_, n) => n + 1);
            }

            return Microsoft.AspNetCore.Http.Results.Ok();
        }), output);
        await using var backend = await TestBackend.StartAsync(app => app.MapGet("/svc/{n}", (string n) => "hello " + n), output);
        var environment = new Dictionary<string, string>
        {
            ["OTEL_EXPORTER_OTLP_ENDPOINT"] = collector.Uri.ToString().TrimEnd('/'),
            ["OTEL_EXPORTER_OTLP_PROTOCOL"] = "http/protobuf",
            ["OTEL_METRIC_EXPORT_INTERVAL"] = "500",
            ["OTEL_BSP_SCHEDULE_DELAY"] = "200",
            ["OTEL_SERVICE_NAME"] = "putsh-router-test",
        };
        await using var router = PutshProcess.Start(output, environment, "router", "--listen", "http://127.0.0.1:0", "--register", "http://127.0.0.1:0");
        var line = await router.WaitForLineAsync(l => l.Contains("Clients (x) on ", StringComparison.Ordinal));
        var match = System.Text.RegularExpressions.Regex.Match(line, @"Clients \(x\) on (http://[^ ;,]+).*registration \(y\) on (http://[^ ;,]+)");
        var register = new Uri("ws" + match.Groups[2].Value["http".Length..]);
        await using var connector = await TestConnector.StartAsync([register], "svc", backend.Uri, output, TestConnector.V3Only);
        using var client = new HttpClient { BaseAddress = new Uri(match.Groups[1].Value) };
        Assert.Equal("hello 1", await client.GetStringAsync("/svc/1").DefaultTimeout());

        await Eventually.True(() => received.ContainsKey("metrics") && received.ContainsKey("traces"), "metrics and traces exported over OTLP");
    }
}
