using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Builder;
using Putsh.Cli.Tests;
using Putsh.Tests.Common;
using Xunit.Abstractions;
using static Microsoft.Playwright.Assertions;

namespace Putsh.Dashboard.Tests;

/// <summary>The dashboard on the real router's admin listener, in a real headless Chromium.</summary>
public sealed partial class DashboardTests(ITestOutputHelper output)
{
    /// <summary>How long a locator assertion waits: the page polls every second, so this is many polls.</summary>
    private const float Wait = 15_000;

    static DashboardTests() => SetDefaultExpectTimeout(Wait);

    [SkippableFact]
    public async Task The_page_shows_a_route_counts_its_requests_and_drops_it_when_its_connector_goes()
    {
        var chromium = SystemChromium.Require();
        await using var backend = await TestBackend.StartAsync(app => app.MapGet("/dash/{n}", (string n) => "hello " + n), output);
        var (router, clients, register, admin) = await PutshProcess.StartRouterAsync(output, "--admin", "http://127.0.0.1:0");
        await using var _ = router;
        Assert.NotNull(admin);
        var connector = await TestConnector.StartAsync([register], "dash", backend.Uri, output, o => o.ComponentName = "dash-demo", sockets: 2);
        var connectorGone = false;
        try
        {
            var (dashboard, response) = await DashboardPage.OpenAsync(chromium, admin, output);
            await using var __ = dashboard;
            var page = dashboard.Page;
            Assert.NotNull(response);
            Assert.Equal(200, response.Status);
            Assert.Equal("text/html; charset=utf-8", await response.HeaderValueAsync("content-type"));

            var route = page.GetByTestId("route-dash");
            await Expect(route).ToBeVisibleAsync();
            await Expect(page.GetByTestId("router-state")).ToHaveTextAsync("serving");
            await Expect(page.GetByTestId("requests-dash")).ToHaveTextAsync("0");
            await Expect(page.GetByTestId("instances-dash")).ToHaveTextAsync("1 connector instance");
            await Expect(page.GetByTestId("sockets-dash")).ToHaveTextAsync("2 / 0");
            var row = page.GetByTestId("connectors-dash").Locator("tr");
            await Expect(row).ToHaveCountAsync(1);
            await Expect(row).ToContainTextAsync("dash-demo");
            await Expect(row).ToContainTextAsync("cranker_");
            await Expect(row).ToContainTextAsync("127.0.0.1");

            using var client = new HttpClient { BaseAddress = clients };
            for (var i = 0; i < 5; i++)
            {
                Assert.Equal("hello " + i, await client.GetStringAsync($"/dash/{i}").DefaultTimeout());
            }

            await Expect(page.GetByTestId("requests-dash")).ToHaveTextAsync("5");
            // Once two answers are in, every rate is a number rather than the placeholder.
            await Expect(page.GetByTestId("rps-dash")).ToHaveTextAsync(Number());
            await Expect(page.GetByTestId("eps-dash")).ToHaveTextAsync("0");
            await Expect(page.GetByTestId("bytes-out-dash")).ToHaveTextAsync(new Regex(@"^\d+(\.\d)? [kMG]?B/s$"));

            connectorGone = true;
            await connector.DisposeAsync();
            await Expect(route).ToHaveCountAsync(0);
            await Expect(page.GetByTestId("no-routes")).ToBeVisibleAsync();

            var origin = admin.GetLeftPart(UriPartial.Authority) + "/";
            Assert.NotEmpty(dashboard.Requests);
            Assert.All(dashboard.Requests, url => Assert.StartsWith(origin, url, StringComparison.Ordinal));
            Assert.Contains(dashboard.Requests, url => url == origin + "api/routes");
            Assert.Empty(dashboard.Errors);
        }
        finally
        {
            if (!connectorGone)
            {
                await connector.DisposeAsync();
            }
        }
    }

    [SkippableFact]
    public async Task The_page_says_when_the_router_cannot_be_reached_and_recovers_when_it_can()
    {
        var chromium = SystemChromium.Require();
        var (router, _, _, admin) = await PutshProcess.StartRouterAsync(output, "--admin", "http://127.0.0.1:0");
        await using var _ = router;
        Assert.NotNull(admin);
        var (dashboard, _) = await DashboardPage.OpenAsync(chromium, admin, output);
        await using var __ = dashboard;
        var page = dashboard.Page;
        await Expect(page.GetByTestId("router-state")).ToHaveTextAsync("serving");
        await Expect(page.GetByTestId("no-routes")).ToBeVisibleAsync();
        await Expect(page.GetByTestId("offline")).ToBeHiddenAsync();

        // Every later poll fails at the network level, as it would with the router gone; then the network comes back.
        await page.RouteAsync("**/api/routes", r => r.AbortAsync());
        await Expect(page.GetByTestId("offline")).ToBeVisibleAsync();
        await Expect(page.GetByTestId("router-state")).ToHaveTextAsync("unreachable");
        await page.UnrouteAllAsync();
        await Expect(page.GetByTestId("offline")).ToBeHiddenAsync();
        await Expect(page.GetByTestId("router-state")).ToHaveTextAsync("serving");
        Assert.All(dashboard.Errors, e => Assert.Contains("Failed to load resource", e, StringComparison.Ordinal));
    }

    [Fact]
    public async Task The_admin_listener_serves_the_page_with_strict_headers_and_only_for_get_and_head()
    {
        var (router, clients, _, admin) = await PutshProcess.StartRouterAsync(output, "--admin", "http://127.0.0.1:0");
        await using var _ = router;
        Assert.NotNull(admin);
        using var http = new HttpClient { BaseAddress = admin };

        foreach (var path in new[] { "/", "/index.html" })
        {
            using var page = await http.GetAsync(path).DefaultTimeout();
            Assert.Equal(HttpStatusCode.OK, page.StatusCode);
            Assert.Equal("text/html; charset=utf-8", page.Content.Headers.ContentType?.ToString());
            Assert.True(page.Headers.CacheControl?.NoStore, "Cache-Control: no-store");
            var policy = string.Join(", ", page.Headers.GetValues("Content-Security-Policy"));
            Assert.Contains("default-src 'none'", policy, StringComparison.Ordinal);
            Assert.Contains("connect-src 'self'", policy, StringComparison.Ordinal);
            Assert.DoesNotContain("unsafe-inline", policy, StringComparison.Ordinal);
            Assert.DoesNotContain("unsafe-eval", policy, StringComparison.Ordinal);
            var html = await page.Content.ReadAsStringAsync().DefaultTimeout();

            // Self-contained: no external script, style, font or image, and the policy admits exactly the inline ones.
            Assert.DoesNotMatch(@"(?i)(src|href)\s*=\s*[""']?(https?:)?//", html);
            Assert.DoesNotContain("@import", html, StringComparison.Ordinal);
            Assert.Contains(HashOf(html, "script"), policy, StringComparison.Ordinal);
            Assert.Contains(HashOf(html, "style"), policy, StringComparison.Ordinal);
            Assert.Contains("name=\"viewport\"", html, StringComparison.Ordinal);
            Assert.Contains("prefers-color-scheme: dark", html, StringComparison.Ordinal);
            Assert.DoesNotContain("innerHTML", html, StringComparison.Ordinal);
        }

        using var head = await http.SendAsync(new HttpRequestMessage(HttpMethod.Head, "/")).DefaultTimeout();
        Assert.Equal(HttpStatusCode.OK, head.StatusCode);
        using var post = await http.PostAsync("/", null).DefaultTimeout();
        Assert.Equal(HttpStatusCode.NotFound, post.StatusCode);
        using var other = await http.GetAsync("/dashboard.css").DefaultTimeout();
        Assert.Equal(HttpStatusCode.NotFound, other.StatusCode);

        // Clients never see it: their listener's / is the proxy's, which has no connector for it.
        using var proxied = await new HttpClient { BaseAddress = clients }.GetAsync("/").DefaultTimeout();
        Assert.Equal(HttpStatusCode.NotFound, proxied.StatusCode);
        Assert.False(proxied.Headers.Contains("Content-Security-Policy"));
        Assert.DoesNotContain("data-testid", await proxied.Content.ReadAsStringAsync().DefaultTimeout(), StringComparison.Ordinal);
    }

    private static string HashOf(string html, string element)
    {
        var start = html.IndexOf($"<{element}>", StringComparison.Ordinal) + element.Length + 2;
        var end = html.IndexOf($"</{element}>", StringComparison.Ordinal);
        return $"'sha256-{Convert.ToBase64String(SHA256.HashData(Encoding.UTF8.GetBytes(html[start..end])))}'";
    }

    [GeneratedRegex(@"^\d+(\.\d+)?$")]
    private static partial Regex Number();
}
