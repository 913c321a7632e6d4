using System.Diagnostics;
using System.Net;
using Putsh.Tests.Common;
using Xunit.Abstractions;

namespace Putsh.Connector.AspNetCore.Tests;

/// <summary>The sample app in samples/PutshMinimalApi, run as its own process, served only through a router.</summary>
public sealed class SampleAppTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData("cranker_1.0")]
    [InlineData("cranker_3.0")]
    public async Task The_sample_serves_through_a_router_with_no_port_of_its_own(string protocol)
    {
        await using var router = await TestRouter.StartAsync(output, o =>
        {
            o.Protocols.Clear();
            o.Protocols.Add(protocol);
        });
        var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        info.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "PutshMinimalApi.dll"));
        info.ArgumentList.Add("--routers");
        info.ArgumentList.Add(router.RegisterUri.ToString());
        info.ArgumentList.Add("--route");
        info.ArgumentList.Add("hello");
        using var app = Process.Start(info)!;
        app.OutputDataReceived += (_, e) => Log("sample> " + e.Data);
        app.ErrorDataReceived += (_, e) => Log("sample! " + e.Data);
        app.BeginOutputReadLine();
        app.BeginErrorReadLine();
        try
        {
            // Registration is asynchronous: wait for the route to answer (404 and 503 mean "not yet").
            var deadline = DateTime.UtcNow + TestTimeouts.Default;
            while (true)
            {
                using var probe = await router.Client.GetAsync("/hello/").DefaultTimeout();
                if (probe.StatusCode == HttpStatusCode.OK)
                {
                    Assert.StartsWith("Hello from a minimal API with no port", await probe.Content.ReadAsStringAsync().DefaultTimeout());
                    break;
                }

                Assert.True(DateTime.UtcNow < deadline, "the sample never registered");
                Assert.False(app.HasExited, "the sample exited");
                await Task.Delay(TimeSpan.FromMilliseconds(50));
            }

            Assert.Equal("Hi, world!\n", await router.Client.GetStringAsync("/hello/greet/world?greeting=Hi").DefaultTimeout());

            var body = new byte[3 * 1024 * 1024];
            using (var posted = await router.Client.PostAsync("/hello/length", new ByteArrayContent(body)).DefaultTimeout())
            {
                Assert.Equal(HttpStatusCode.OK, posted.StatusCode);
                Assert.Contains($"{body.Length}", await posted.Content.ReadAsStringAsync().DefaultTimeout());
            }

            using var missing = await router.Client.GetAsync("/hello/no/such/page").DefaultTimeout();
            Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        }
        finally
        {
            if (!app.HasExited)
            {
                app.Kill(entireProcessTree: true);
                await app.WaitForExitAsync().DefaultTimeout();
            }
        }
    }

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
