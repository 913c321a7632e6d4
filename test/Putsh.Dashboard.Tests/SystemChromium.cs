namespace Putsh.Dashboard.Tests;

/// <summary>
/// Finds the Chromium the machine has installed; Playwright drives it through the node driver its package ships and
/// never downloads a browser of its own.
/// </summary>
internal static class SystemChromium
{
    /// <summary>Names an executable to use instead of the usual places.</summary>
    public const string Variable = "CHROMIUM_PATH";

    private static readonly string[] Usual = ["/usr/bin/chromium", "/usr/bin/chromium-browser"];

    /// <summary>
    /// The browser's path. Without one, the calling <c>[SkippableFact]</c> is skipped on a developer's machine and
    /// fails on CI (where <c>CI=true</c> and .ci/run installs the browser), in both cases saying what is missing.
    /// </summary>
    public static string Require()
    {
        // Playwright's .NET driver downloads nothing on launch; this makes sure no other path of it tries to either.
        Environment.SetEnvironmentVariable("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1");
        var chosen = Environment.GetEnvironmentVariable(Variable);
        var candidates = string.IsNullOrEmpty(chosen) ? Usual : [chosen];
        var path = candidates.FirstOrDefault(File.Exists);
        var ci = string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase);
        var missing = $"No Chromium at {string.Join(" or ", candidates)} (set {Variable} to use another).";
        Skip.If(path is null && !ci, $"{missing} Install one with `apt-get install chromium` to run the dashboard's browser tests.");
        Assert.True(path is not null, $"{missing} CI needs it for the dashboard's browser tests: .ci/run installs the Debian package chromium when it can; see its log.");
        return path;
    }
}
