using System.Diagnostics;
using System.Net;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Putsh.Tests.Common;
using Xunit.Abstractions;

namespace Putsh.Router.Tests.Hosting;

/// <summary>The README's router snippet, samples/PutshRouterApp, run as its own process with a real connector.</summary>
public sealed partial class RouterSampleTests(ITestOutputHelper output)
{
    [Fact]
    public async Task The_sample_router_serves_its_own_endpoint_and_proxies_the_rest_to_a_connector()
    {
        await using var backend = await TestBackend.StartAsync(app => app.MapGet("/hello/{**rest}", (HttpContext c) => "through the sample: " + c.Request.Path), output);
        var listening = new TaskCompletionSource<Uri>(TaskCreationOptions.RunContinuationsAsynchronously);
        var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false, WorkingDirectory = AppContext.BaseDirectory };
        info.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "PutshRouterApp.dll"));
        info.ArgumentList.Add("--urls");
        info.ArgumentList.Add("http://127.0.0.1:0");
        info.Environment["Logging__Console__FormatterName"] = "simple";
        info.Environment["Logging__LogLevel__Microsoft.Hosting.Lifetime"] = "Information";
        using var sample = Process.Start(info)!;
        sample.OutputDataReceived += (_, e) =>
        {
            Log("sample> " + e.Data);
            if (e.Data is { } line && Listening().Match(line) is { Success: true } m)
            {
                listening.TrySetResult(new Uri(m.Groups[1].Value));
            }
        };
        sample.ErrorDataReceived += (_, e) => Log("sample! " + e.Data);
        sample.BeginOutputReadLine();
        sample.BeginErrorReadLine();
        try
        {
            var uri = await listening.Task.DefaultTimeout();
            using var client = new HttpClient { BaseAddress = uri, Timeout = TestTimeouts.Default };
            Assert.Equal("ok", await client.GetStringAsync("/healthz").DefaultTimeout());

            await using var connector = await TestConnector.StartAsync([new Uri($"ws://{uri.Authority}")], "hello", backend.Uri, output);
            var deadline = DateTime.UtcNow + TestTimeouts.Default;
            while (true)
            {
                using var response = await client.GetAsync("/hello/world").DefaultTimeout();
                if (response.StatusCode == HttpStatusCode.OK)
                {
                    Assert.Equal("through the sample: /hello/world", await response.Content.ReadAsStringAsync().DefaultTimeout());
                    break;
                }

                Assert.True(DateTime.UtcNow < deadline, $"the route never answered (last: {(int)response.StatusCode})");
                await Task.Delay(TimeSpan.FromMilliseconds(20));
            }

            Assert.Equal("ok", await client.GetStringAsync("/healthz").DefaultTimeout());
        }
        finally
        {
            if (!sample.HasExited)
            {
                sample.Kill(entireProcessTree: true);
                await sample.WaitForExitAsync().DefaultTimeout();
            }
        }
    }

    [GeneratedRegex(@"Now listening on: (http://\S+)")]
    private static partial Regex Listening();

    private void Log(string line)
    {
        try
        {
            output.WriteLine(line);
        }
        catch (InvalidOperationException)
        {
            // The test has finished.
        }
    }
}
