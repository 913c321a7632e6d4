using System.Net;
using System.Net.Http.Headers;
using Putsh.Tests.Common;
using Xunit.Abstractions;

namespace Putsh.Cli.Tests;

/// <summary>The admin listener's bearer token: everything but the health probes needs it.</summary>
public sealed class AdminGuardTests(ITestOutputHelper output)
{
    [Fact]
    public async Task With_an_admin_token_the_admin_listener_serves_only_requests_that_carry_it_and_the_health_probes()
    {
        var (router, _, _, admin) = await PutshProcess.StartRouterAsync(output, "--admin", "http://127.0.0.1:0", "--admin-token", "let-me-in-42");
        await using var _ = router;
        using var client = new HttpClient { BaseAddress = admin };

        foreach (var path in new[] { "/api/routes", "/metrics", "/" })
        {
            using var refused = await client.GetAsync(path).DefaultTimeout();
            Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
            Assert.Equal("Bearer", refused.Headers.WwwAuthenticate.Single().Scheme);

            using var wrong = new HttpRequestMessage(HttpMethod.Get, path) { Headers = { Authorization = new AuthenticationHeaderValue("Bearer", "let-me-in-43") } };
            Assert.Equal(HttpStatusCode.Unauthorized, (await client.SendAsync(wrong).DefaultTimeout()).StatusCode);

            using var right = new HttpRequestMessage(HttpMethod.Get, path) { Headers = { Authorization = new AuthenticationHeaderValue("Bearer", "let-me-in-42") } };
            Assert.Equal(HttpStatusCode.OK, (await client.SendAsync(right).DefaultTimeout()).StatusCode);
        }

        // Probes come without credentials.
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/health/live").DefaultTimeout()).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/health/ready").DefaultTimeout()).StatusCode);
        Assert.All(router.Lines, l => Assert.DoesNotContain("let-me-in-42", l, StringComparison.Ordinal));
    }
}
