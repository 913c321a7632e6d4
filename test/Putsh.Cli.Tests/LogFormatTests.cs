using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Putsh.Tests.Common;
using Xunit.Abstractions;

namespace Putsh.Cli.Tests;

/// <summary>What the executable logs: JSON on request, an access log line per request, no internal addresses.</summary>
public sealed class LogFormatTests(ITestOutputHelper output)
{
    [Fact]
    public async Task With_json_logs_and_the_access_log_every_line_is_a_json_object_and_each_request_has_its_access_line()
    {
        await using var backend = await TestBackend.StartAsync(app => app.MapGet("/svc/{n}", (string n) => "hello " + n), output);
        var (router, clients, register, _) = await PutshProcess.StartRouterAsync(output, "--log-format", "json", "--access-log");
        await using var routerProcess = router;
        await using var connector = await TestConnector.StartAsync([register], "svc", backend.Uri, output, TestConnector.V3Only);
        using var client = new HttpClient { BaseAddress = clients };
        using var request = new HttpRequestMessage(HttpMethod.Get, "/svc/7");
        request.Headers.TryAddWithoutValidation("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
        using var response = await client.SendAsync(request).DefaultTimeout();
        Assert.Equal("hello 7", await response.Content.ReadAsStringAsync().DefaultTimeout());

        var access = await router.WaitForLineAsync(l => l.Contains("Putsh.Router.Access", StringComparison.Ordinal));
        using var entry = JsonDocument.Parse(access);
        Assert.Equal("Information", entry.RootElement.GetProperty("LogLevel").GetString());
        var state = entry.RootElement.GetProperty("State");
        Assert.Equal(("GET", "/svc/7", 200, "svc", connector.InstanceId, 7L), (state.GetProperty("Method").GetString(), state.GetProperty("Path").GetString(), state.GetProperty("Status").GetInt32(), state.GetProperty("Route").GetString(), state.GetProperty("ConnectorInstanceId").GetString(), state.GetProperty("BytesOut").GetInt64()));
        Assert.Equal("4bf92f3577b34da6a3ce929d0e0e4736", state.GetProperty("TraceId").GetString());

        // Every line the router wrote is JSON; none names the internal h2c hand-off address.
        Assert.NotEmpty(router.Lines);
        Assert.All(router.Lines, line =>
        {
            using var parsed = JsonDocument.Parse(line);
            Assert.True(parsed.RootElement.TryGetProperty("Category", out _), line);
            Assert.DoesNotContain(".invalid", line, StringComparison.Ordinal);
        });
    }
}
