using System.Diagnostics;
using Putsh.Tests.Common;

namespace Putsh.Cli.Tests;

/// <summary>What a short-lived tool run printed and how it exited.</summary>
internal sealed record ShortProcessResult(int Code, string Stdout, string Stderr)
{
    /// <summary>Both streams, for an assertion message.</summary>
    public string Output => (Stdout + Stderr).Trim();

    /// <summary>The exit code and <see cref="Output"/>.</summary>
    public void Deconstruct(out int code, out string output)
    {
        code = Code;
        output = Output;
    }
}

/// <summary>Runs a tool (bash, shellcheck, systemd-analyze, kubectl, the putsh executable) to its end, within the default test timeout.</summary>
internal static class ShortProcess
{
    public static async Task<ShortProcessResult> RunAsync(string file, IEnumerable<string> args)
    {
        var info = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args)
        {
            info.ArgumentList.Add(a);
        }

        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync().DefaultTimeout();
        return new ShortProcessResult(process.ExitCode, await stdout, await stderr);
    }

    /// <summary>Runs the putsh executable built next to the tests.</summary>
    public static Task<ShortProcessResult> RunPutshAsync(params string[] args) =>
        RunAsync("dotnet", [Path.Combine(AppContext.BaseDirectory, "putsh.dll"), .. args]);
}
