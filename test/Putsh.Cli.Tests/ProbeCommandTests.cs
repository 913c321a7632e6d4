using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Putsh.Tests.Common;
using Xunit.Abstractions;

namespace Putsh.Cli.Tests;

/// <summary><c>putsh probe</c>, the container health check, run as the real executable against a real server.</summary>
public sealed class ProbeCommandTests(ITestOutputHelper output)
{
    [Fact]
    public async Task A_2xx_answer_exits_0_anything_else_1_and_a_bad_url_2()
    {
        var ready = true;
        await using var server = await TestBackend.StartAsync(app => app.MapGet("/health/ready", () => ready ? Results.Ok("ready") : Results.StatusCode(503)), output);
        var url = new Uri(server.Uri, "/health/ready").ToString();

        var (code, stdout, _) = await ShortProcess.RunPutshAsync("probe", url);
        Assert.Equal(0, code);
        Assert.Contains("answered 200", stdout);

        ready = false;
        var (unhealthy, _, stderr) = await ShortProcess.RunPutshAsync("probe", url);
        Assert.Equal(1, unhealthy);
        Assert.Equal($"putsh probe: {url} answered 503 Service Unavailable", stderr.Trim());

        // Nothing listens on a port we had and gave back: refused, one line, exit 1.
        var closed = TestRouter.FreePort();
        var (refused, _, refusal) = await ShortProcess.RunPutshAsync("probe", $"http://127.0.0.1:{closed}/health/ready");
        Assert.Equal(1, refused);
        Assert.Single(refusal.Trim().Split('\n'));

        var (usage, _, bad) = await ShortProcess.RunPutshAsync("probe", "ftp://127.0.0.1/x");
        Assert.Equal(2, usage);
        Assert.StartsWith("putsh: probe: 'ftp://127.0.0.1/x' is not an http:// or https:// URL.", bad);
    }
}
