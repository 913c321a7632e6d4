using System.Collections.Concurrent;
using Microsoft.Playwright;
using Xunit.Abstractions;

namespace Putsh.Dashboard.Tests;

/// <summary>A headless Chromium with the dashboard open, recording every request the page makes and every error it logs.</summary>
internal sealed class DashboardPage : IAsyncDisposable
{
    private readonly IPlaywright _playwright;
    private readonly IBrowser _browser;
    private readonly ConcurrentQueue<string> _requests = new();
    private readonly ConcurrentQueue<string> _errors = new();

    private DashboardPage(IPlaywright playwright, IBrowser browser, IPage page)
    {
        _playwright = playwright;
        _browser = browser;
        Page = page;
    }

    public IPage Page { get; }

    /// <summary>The URLs of the requests the page has made, navigation included.</summary>
    public IReadOnlyCollection<string> Requests => _requests;

    /// <summary>Console errors and uncaught exceptions, Content-Security-Policy violations among them.</summary>
    public IReadOnlyCollection<string> Errors => _errors;

    /// <summary>Launches <paramref name="executable"/> (from <see cref="SystemChromium.Require"/>) and opens <paramref name="address"/>.</summary>
    public static async Task<(DashboardPage Dashboard, IResponse? Response)> OpenAsync(string executable, Uri address, ITestOutputHelper output, int width = 1280, int height = 800)
    {
        var playwright = await Playwright.CreateAsync();
        var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions { ExecutablePath = executable, Headless = true, Args = ["--no-sandbox"] });
        var page = await browser.NewPageAsync(new BrowserNewPageOptions { ViewportSize = new ViewportSize { Width = width, Height = height } });
        var dashboard = new DashboardPage(playwright, browser, page);
        page.Request += (_, r) => dashboard._requests.Enqueue(r.Url);
        page.Console += (_, m) =>
        {
            if (m.Type == "error")
            {
                dashboard._errors.Enqueue("console: " + m.Text);
            }
        };
        page.PageError += (_, e) => dashboard._errors.Enqueue("uncaught: " + e);
        output.WriteLine($"Chromium {browser.Version} from {executable} opens {address}");
        var response = await page.GotoAsync(address.ToString());
        return (dashboard, response);
    }

    public async ValueTask DisposeAsync()
    {
        await _browser.DisposeAsync();
        _playwright.Dispose();
    }
}
