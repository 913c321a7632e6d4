using System.Net;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Putsh.Tests.Common;
using Xunit.Abstractions;

namespace Putsh.Cli.Tests;

/// <summary>Dark mode on the router's admin listener (docs/state-api.md): an instance or a route out of rotation and back.</summary>
public sealed class DarkModeTests(ITestOutputHelper output)
{
    [Fact]
    public async Task An_operator_takes_an_instance_and_a_route_out_of_rotation_and_puts_them_back()
    {
        var (router, clientsUri, register, admin) = await PutshProcess.StartRouterAsync(output, "--admin", "http://127.0.0.1:0");
        await using var _ = router;
        await using var backendA = await TestBackend.StartAsync(app => app.MapGet("/svc/who", () => "a"), output);
        await using var backendB = await TestBackend.StartAsync(app => app.MapGet("/svc/who", () => "b"), output);
        await using var a = await TestConnector.StartAsync([register], "svc", backendA.Uri, output, o => { TestConnector.V3Only(o); o.InstanceId = "a"; }, name: "a");
        await using var b = await TestConnector.StartAsync([register], "svc", backendB.Uri, output, o => { TestConnector.V3Only(o); o.InstanceId = "b"; }, name: "b");
        using var clients = new HttpClient { BaseAddress = clientsUri };
        using var operators = new HttpClient { BaseAddress = admin };
        // The router may not have pooled both instances' sockets yet: a bounded number of tries.
        for (var attempt = 0; !(await AnswersAsync(clients, 8)).SetEquals(["a", "b"]); attempt++)
        {
            Assert.True(attempt < 100, "both instances never answered");
        }

        // Instance a goes dark: b takes everything.
        Assert.Equal("a / ", await DarkAsync(await operators.PutAsync("/api/dark-mode/instances/a", null)));
        Assert.Equal(["b"], (await AnswersAsync(clients, 8)).ToArray());

        // The route goes dark: 503, and the listing shows both.
        Assert.Equal("a / svc", await DarkAsync(await operators.PutAsync("/api/dark-mode/routes/svc", null)));
        using (var refused = await clients.GetAsync("/svc/who").DefaultTimeout())
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, refused.StatusCode);
        }

        Assert.Equal("a / svc", await DarkAsync(await operators.GetAsync("/api/dark-mode")));

        // Undone: both answer again.
        Assert.Equal("a / ", await DarkAsync(await operators.DeleteAsync("/api/dark-mode/routes/svc")));
        Assert.Equal(" / ", await DarkAsync(await operators.DeleteAsync("/api/dark-mode/instances/a")));
        Assert.True((await AnswersAsync(clients, 8)).SetEquals(["a", "b"]));

        using var wrong = await operators.PostAsync("/api/dark-mode/instances/a", null);
        Assert.Equal(HttpStatusCode.MethodNotAllowed, wrong.StatusCode);
    }

    /// <summary>Which instances answered <paramref name="count"/> requests in a row.</summary>
    private static async Task<HashSet<string>> AnswersAsync(HttpClient clients, int count)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < count; i++)
        {
            using var response = await clients.GetAsync("/svc/who").DefaultTimeout();
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            seen.Add(await response.Content.ReadAsStringAsync());
        }

        return seen;
    }

    /// <summary>The dark instances and routes an answer lists, as <c>instances / routes</c>.</summary>
    private static async Task<string> DarkAsync(HttpResponseMessage response)
    {
        using (response)
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
            return string.Join(",", json.RootElement.GetProperty("instances").EnumerateArray().Select(e => e.GetString()))
                + " / " + string.Join(",", json.RootElement.GetProperty("routes").EnumerateArray().Select(e => e.GetString()));
        }
    }
}
