using System.Diagnostics;
using Microsoft.AspNetCore.Builder;
using Putsh.Tests.Common;
using Xunit.Abstractions;

namespace Putsh.Cli.Tests;

/// <summary>The real putsh executable in its own process.</summary>
public sealed class ProcessTests(ITestOutputHelper output)
{
    private static string PutshDll => Path.Combine(AppContext.BaseDirectory, "putsh.dll");

    private Process Start(params string[] args)
    {
        var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        info.ArgumentList.Add(PutshDll);
        foreach (var a in args)
        {
            info.ArgumentList.Add(a);
        }

        var process = Process.Start(info)!;
        return process;
    }

    [Fact]
    public async Task A_bad_flag_exits_with_code_2()
    {
        using var process = Start("router", "--listen");
        var err = await process.StandardError.ReadToEndAsync().DefaultTimeout();
        await process.WaitForExitAsync().DefaultTimeout();
        Assert.Equal(2, process.ExitCode);
        Assert.StartsWith("putsh: ", err);
    }

    [Theory]
    [InlineData("router", "--tcp-listen 127.0.0.1:6380", "--tcp-listen '127.0.0.1:6380': give address:port=route")]
    [InlineData("router", "--tcp-listen redis.local:6380=redis", "is not an IP address and port")]
    [InlineData("connector", "--routers ws://127.0.0.1:1 --tcp-route redis", "Each TCP route needs its target")]
    [InlineData("connector", "--routers ws://127.0.0.1:1 --tcp-route redis --tcp-target nowhere", "TCP target 'nowhere' is not host:port.")]
    public async Task A_bad_TCP_route_setting_is_one_line_and_code_2(string command, string flags, string message)
    {
        var result = await ShortProcess.RunPutshAsync([command, .. flags.Split(' ')]);

        Assert.Equal(2, result.Code);
        var line = Assert.Single(result.Stderr.Trim().Split('\n'));
        Assert.StartsWith("putsh: ", line);
        Assert.Contains(message, line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_connector_stops_on_SIGTERM_by_deregistering_and_exits_0()
    {
        await using var backend = await TestBackend.StartAsync(_ => { });
        await using var router = await TestRouter.StartAsync(output);
        using var process = Start("connector", "--routers", router.RegisterUri.ToString(), "--route", "proc", "--target", backend.Uri.ToString(), "--sockets", "3", "--protocols", "cranker_1.0");
        var lines = new List<string>();
        var (stdout, registered) = ReadLines(process, lines);
        try
        {
            await registered.DefaultTimeout();
            var pool = router.V1Pool("proc")!;
            await WaitUntil(() => pool.IdleCount == 3);

            using (var kill = Process.Start("kill", ["-TERM", process.Id.ToString()]))
            {
                await kill.WaitForExitAsync().DefaultTimeout();
            }

            await process.WaitForExitAsync().DefaultTimeout();
            await stdout.DefaultTimeout();
            Assert.Equal(0, process.ExitCode);
            Assert.Contains(lines, l => l.Contains("Deregistered from router", StringComparison.Ordinal) && l.Contains("router confirmed", StringComparison.Ordinal));
            Assert.Equal(0, pool.IdleCount);
        }
        finally
        {
            if (!process.HasExited)
            {
                process.Kill();
            }
        }
    }

    [Theory]
    [InlineData(new string[0], "Socket completions run inline on the I/O threads (--inline-io true)")]
    [InlineData(new[] { "--inline-io", "false" }, "Socket completions run on the thread pool (--inline-io false)")]
    public async Task The_executable_runs_its_sockets_as_inline_io_says_and_serves_either_way(string[] flags, string expectedLine)
    {
        await using var backend = await TestBackend.StartAsync(app => app.MapGet("/io/hello", () => "hello from the backend"));
        await using var router = await TestRouter.StartAsync(output);
        using var process = Start(["connector", "--routers", router.RegisterUri.ToString(), "--route", "io", "--target", backend.Uri.ToString(), "--sockets", "2", .. flags]);
        var lines = new List<string>();
        var (stdout, registered) = ReadLines(process, lines);
        try
        {
            await registered.DefaultTimeout();
            for (var i = 0; i < 20; i++)
            {
                Assert.Equal("hello from the backend", await router.Client.GetStringAsync("/io/hello").DefaultTimeout());
            }

            lock (lines)
            {
                Assert.Contains(lines, l => l.EndsWith(expectedLine, StringComparison.Ordinal));
            }
        }
        finally
        {
            if (!process.HasExited)
            {
                process.Kill();
            }

            await process.WaitForExitAsync().DefaultTimeout();
            await stdout.DefaultTimeout();
        }
    }

    /// <summary>Collects the process's output lines (echoed to the test log); the second task completes at registration.</summary>
    private (Task Reading, Task Registered) ReadLines(Process process, List<string> lines)
    {
        var registered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var reading = Task.Run(async () =>
        {
            while (await process.StandardOutput.ReadLineAsync() is { } line)
            {
                lock (lines)
                {
                    lines.Add(line);
                }

                output.WriteLine("putsh> " + line);
                if (line.Contains("Registered with router", StringComparison.Ordinal))
                {
                    registered.TrySetResult();
                }
            }
        });
        return (reading, registered.Task);
    }

    private static async Task WaitUntil(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow + TestTimeouts.Default;
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "condition not met in time");
            await Task.Delay(TimeSpan.FromMilliseconds(20));
        }
    }
}
