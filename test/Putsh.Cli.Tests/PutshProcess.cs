using System.Diagnostics;
using System.Text.RegularExpressions;
using Putsh.Tests.Common;
using Xunit.Abstractions;

namespace Putsh.Cli.Tests;

/// <summary>The real putsh executable in a process of its own, with its output lines collected and echoed to the test log.</summary>
internal sealed partial class PutshProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly List<string> _lines = [];
    private readonly List<string> _errorLines = [];
    private readonly List<(Func<string, bool> Match, TaskCompletionSource<string> Found)> _waiters = [];
    private readonly Task _reading;
    private readonly ITestOutputHelper _output;

    private PutshProcess(Process process, ITestOutputHelper output)
    {
        _process = process;
        _output = output;
        _reading = Task.WhenAll(ReadAsync(process.StandardOutput, "putsh> ", null), ReadAsync(process.StandardError, "putsh! ", _errorLines));
    }

    public int Id => _process.Id;

    public static PutshProcess Start(ITestOutputHelper output, params string[] args) => Start(output, null, args);

    /// <summary>Starts <c>putsh</c> with <paramref name="environment"/> added to its environment.</summary>
    public static PutshProcess Start(ITestOutputHelper output, IReadOnlyDictionary<string, string>? environment, params string[] args)
    {
        var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var (name, value) in environment ?? new Dictionary<string, string>())
        {
            info.Environment[name] = value;
        }

        info.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "putsh.dll"));
        foreach (var a in args)
        {
            info.ArgumentList.Add(a);
        }

        return new PutshProcess(Process.Start(info)!, output);
    }

    /// <summary>Starts <c>putsh router</c> on free loopback ports and waits until it says where it listens.</summary>
    public static Task<(PutshProcess Process, Uri Clients, Uri Register, Uri? Admin)> StartRouterAsync(ITestOutputHelper output, params string[] args) =>
        StartRouterOnAsync(output, "http://127.0.0.1:0", "http://127.0.0.1:0", args);

    /// <summary>Starts <c>putsh router</c> on the given addresses and waits until it says where it listens.</summary>
    public static async Task<(PutshProcess Process, Uri Clients, Uri Register, Uri? Admin)> StartRouterOnAsync(ITestOutputHelper output, string listen, string register, params string[] args)
    {
        var process = Start(output, ["router", "--listen", listen, "--register", register, .. args]);
        var line = await process.WaitForLineAsync(l => l.Contains("Clients (x) on ", StringComparison.Ordinal));
        var match = ListeningLine().Match(line);
        Assert.True(match.Success, line);
        var admin = match.Groups["admin"].Value;
        return (process, new Uri(match.Groups["clients"].Value), new Uri("ws" + match.Groups["register"].Value["http".Length..]), admin == "none" ? null : new Uri(admin));
    }

    public IReadOnlyList<string> Lines
    {
        get
        {
            lock (_lines)
            {
                return [.. _lines];
            }
        }
    }

    /// <summary>The lines written to standard error only (also in <see cref="Lines"/>).</summary>
    public IReadOnlyList<string> ErrorLines
    {
        get
        {
            lock (_lines)
            {
                return [.. _errorLines];
            }
        }
    }

    /// <summary>The first line, already printed or still to come, that <paramref name="match"/> accepts.</summary>
    public Task<string> WaitForLineAsync(Func<string, bool> match)
    {
        lock (_lines)
        {
            if (_lines.FirstOrDefault(match) is { } seen)
            {
                return Task.FromResult(seen);
            }

            var found = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
            _waiters.Add((match, found));
            return found.Task.DefaultTimeout();
        }
    }

    /// <summary>Sends the process a signal (TERM, INT, STOP, CONT, KILL) with the system's <c>kill</c>.</summary>
    public async Task SignalAsync(string signal)
    {
        using var kill = Process.Start("kill", [$"-{signal}", _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)])!;
        await kill.WaitForExitAsync().DefaultTimeout();
        Assert.Equal(0, kill.ExitCode);
    }

    /// <summary>Waits for the process to end and returns its exit code (128 + n when signal n ended it).</summary>
    public async Task<int> ExitCodeAsync()
    {
        await _process.WaitForExitAsync().DefaultTimeout();
        await _reading.DefaultTimeout();
        return _process.ExitCode;
    }

    private async Task ReadAsync(StreamReader reader, string prefix, List<string>? also)
    {
        while (await reader.ReadLineAsync() is { } line)
        {
            List<TaskCompletionSource<string>> found = [];
            lock (_lines)
            {
                _lines.Add(line);
                also?.Add(line);
                foreach (var w in _waiters.Where(w => w.Match(line)).ToList())
                {
                    _waiters.Remove(w);
                    found.Add(w.Found);
                }
            }

            try
            {
                _output.WriteLine(prefix + line);
            }
            catch (InvalidOperationException)
            {
                // The test has ended; its output helper no longer takes lines.
            }

            foreach (var f in found)
            {
                f.TrySetResult(line);
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill();
        }

        await _process.WaitForExitAsync();
        _process.Dispose();
    }

    // The first such text on the line: in JSON logs the message template follows it, with placeholders.
    [GeneratedRegex(@"Clients \(x\) on (?<clients>[^\s;""]+); connector registration \(y\) on (?<register>[^\s;""]+); admin on (?<admin>[^\s"",]+)")]
    private static partial Regex ListeningLine();
}
