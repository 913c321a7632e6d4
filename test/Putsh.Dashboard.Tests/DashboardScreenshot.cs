using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Playwright;
using Putsh.Cli.Tests;
using Putsh.Tests.Common;
using Xunit.Abstractions;
using static Microsoft.Playwright.Assertions;

namespace Putsh.Dashboard.Tests;

/// <summary>
/// Takes docs/dashboard.png by hand: <c>DASHBOARD_SCREENSHOT=$PWD/docs/dashboard.png dotnet test
/// test/Putsh.Dashboard.Tests --filter Screenshot</c>. Skipped unless that variable names the file to write.
/// </summary>
public sealed partial class DashboardScreenshot(ITestOutputHelper output)
{
    public const string Variable = "DASHBOARD_SCREENSHOT";

    [SkippableFact]
    public async Task Screenshot_of_two_routes_under_load()
    {
        var file = Environment.GetEnvironmentVariable(Variable);
        Skip.If(string.IsNullOrEmpty(file), $"Set {Variable} to the PNG file to write.");
        var chromium = SystemChromium.Require();
        var body = new string('x', 1800);
        await using var backend = await TestBackend.StartAsync(app =>
        {
            app.MapPost("/orders/{n:int}", async (int n, HttpRequest request) =>
            {
                await request.Body.CopyToAsync(Stream.Null);
                await Task.Delay(n % 7);
                return body;
            });
            app.MapGet("/catalog/{n:int}", (int n) => n % 25 == 0 ? Results.StatusCode(503) : Results.Text("item " + n));
        }, output);
        var (router, clients, register, admin) = await PutshProcess.StartRouterAsync(output, "--admin", "http://127.0.0.1:0");
        await using var _ = router;
        Assert.NotNull(admin);
        await using var orders1 = await TestConnector.StartAsync([register], "orders", backend.Uri, output, o => o.ComponentName = "orders-api", sockets: 4);
        await using var orders2 = await TestConnector.StartAsync([register], "orders", backend.Uri, output, o => o.ComponentName = "orders-api", sockets: 4);
        await using var catalog = await TestConnector.StartAsync([register], "catalog", backend.Uri, output, o =>
        {
            o.ComponentName = "catalog-svc";
            TestConnector.V1Only(o);
        }, sockets: 3);

        var (dashboard, _) = await DashboardPage.OpenAsync(chromium, admin, output);
        await using var __ = dashboard;
        var page = dashboard.Page;
        await Expect(page.GetByTestId("route-orders")).ToBeVisibleAsync(new() { Timeout = 15_000 });
        await Expect(page.GetByTestId("route-catalog")).ToBeVisibleAsync(new() { Timeout = 15_000 });

        // A bounded load (at most 3,000 requests) that runs while the page catches up and the picture is taken.
        using var done = new CancellationTokenSource();
        using var client = new HttpClient { BaseAddress = clients };
        var sent = 0;
        var order = "{\"items\":[" + string.Join(',', Enumerable.Range(0, 40).Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture))) + "]}";
        var load = Enumerable.Range(0, 4).Select(worker => Task.Run(async () =>
        {
            while (!done.IsCancellationRequested && Interlocked.Increment(ref sent) <= 3000)
            {
                var n = Volatile.Read(ref sent);
                using var response = worker % 2 == 0
                    ? await client.PostAsync($"/orders/{n}", new StringContent(order), CancellationToken.None)
                    : await client.GetAsync($"/catalog/{n}", CancellationToken.None);
            }
        })).ToArray();

        var moving = NonZero();
        await Expect(page.GetByTestId("rps-orders")).ToHaveTextAsync(moving, new() { Timeout = 15_000 });
        await Expect(page.GetByTestId("rps-catalog")).ToHaveTextAsync(moving, new() { Timeout = 15_000 });
        await Expect(page.GetByTestId("eps-catalog")).ToHaveTextAsync(moving, new() { Timeout = 15_000 });
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = file, FullPage = false });
        await done.CancelAsync();
        await Task.WhenAll(load).DefaultTimeout();
        output.WriteLine($"wrote {file} after {Math.Min(sent, 3000)} requests");
        Assert.Empty(dashboard.Errors);
    }

    [GeneratedRegex(@"^(?!0$)\d+(\.\d+)?$")]
    private static partial Regex NonZero();
}
