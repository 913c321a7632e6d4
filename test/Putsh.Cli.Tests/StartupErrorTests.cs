using System.Net;
using System.Net.Sockets;
using Xunit.Abstractions;

namespace Putsh.Cli.Tests;

/// <summary>
/// The executable's start-up errors: one line on standard error that names the address or file, and a non-zero exit
/// (1 when the process could not start, 2 for a configuration error); never a stack trace, never a token.
/// </summary>
public sealed class StartupErrorTests(ITestOutputHelper output) : IDisposable
{
    /// <summary>Part of the token in the bad token files: it must appear in no output.</summary>
    private const string Secret = "s3cret-Value";

    private const string Router = "ws://127.0.0.1:9";
    private const string Target = "http://127.0.0.1:9";

    private readonly string _dir = Directory.CreateTempSubdirectory("putsh-startup-").FullName;

    public static TheoryData<string, int, string[], string> Cases => new()
    {
        // {busy} is a port a listener of the test holds; {dir} a folder of bad files.
        { "router, --listen in use", 1, ["router", "--listen", "http://127.0.0.1:{busy}", "--register", "http://127.0.0.1:0"], "http://127.0.0.1:{busy} (--listen)" },
        { "router, --tls-cert missing", 2, ["router", "--listen", "https://127.0.0.1:0", "--register", "http://127.0.0.1:0", "--tls-cert", "{dir}/missing.pem", "--tls-key", "{dir}/garbage.pem"], "{dir}/missing.pem" },
        { "router, --tls-cert and --tls-key garbage", 2, ["router", "--listen", "https://127.0.0.1:0", "--register", "http://127.0.0.1:0", "--tls-cert", "{dir}/garbage.pem", "--tls-key", "{dir}/garbage.pem"], "{dir}/garbage.pem" },
        { "router, --registration-token-file missing", 2, ["router", "--listen", "http://127.0.0.1:0", "--register", "http://127.0.0.1:0", "--registration-token-file", "{dir}/missing.txt"], "{dir}/missing.txt" },
        { "router, --registration-token-file with a space in a token", 2, ["router", "--listen", "http://127.0.0.1:0", "--register", "http://127.0.0.1:0", "--registration-token-file", "{dir}/router-tokens.txt"], "{dir}/router-tokens.txt" },
        { "demo, --listen in use", 1, ["demo", "--listen", "http://127.0.0.1:{busy}", "--register", "http://127.0.0.1:0"], "http://127.0.0.1:{busy} (--listen)" },
        { "demo, --registration-token-file with a space in a token", 2, ["demo", "--listen", "http://127.0.0.1:0", "--register", "http://127.0.0.1:0", "--registration-token-file", "{dir}/router-tokens.txt"], "{dir}/router-tokens.txt" },
        { "connector, --token-file missing", 2, ["connector", "--routers", Router, "--route", "a", "--target", Target, "--token-file", "{dir}/missing.txt"], "{dir}/missing.txt" },
        { "connector, --token-file with a space in the token", 2, ["connector", "--routers", Router, "--route", "a", "--target", Target, "--token-file", "{dir}/connector-token.txt"], "{dir}/connector-token.txt" },
        { "connector, --client-certificate-file missing", 2, ["connector", "--routers", Router, "--route", "a", "--target", Target, "--client-certificate-file", "{dir}/missing.pem", "--client-key-file", "{dir}/garbage.pem"], "{dir}/missing.pem" },
        { "connector, --client-certificate-file and --client-key-file garbage", 2, ["connector", "--routers", Router, "--route", "a", "--target", Target, "--client-certificate-file", "{dir}/garbage.pem", "--client-key-file", "{dir}/garbage.pem"], "{dir}/garbage.pem" },
        { "connector, --trusted-ca-file missing", 2, ["connector", "--routers", Router, "--route", "a", "--target", Target, "--trusted-ca-file", "{dir}/missing.pem"], "{dir}/missing.pem" },
        { "router, --admin open to others without a token", 2, ["router", "--listen", "http://127.0.0.1:0", "--register", "http://127.0.0.1:0", "--admin", "http://0.0.0.0:0"], "--admin-token" },
        { "connector, --admin open to others without a token", 2, ["connector", "--routers", Router, "--route", "a", "--target", Target, "--admin", "http://0.0.0.0:0"], "--admin-token" },
        { "connector, --trusted-ca-file garbage", 2, ["connector", "--routers", Router, "--route", "a", "--target", Target, "--trusted-ca-file", "{dir}/garbage.pem"], "{dir}/garbage.pem" },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task A_start_up_error_is_one_line_on_stderr_naming_the_address_or_file_and_a_non_zero_exit(string name, int exitCode, string[] args, string named)
    {
        output.WriteLine(name);
        File.WriteAllText(Path.Combine(_dir, "garbage.pem"), "this is not PEM\n");
        File.WriteAllText(Path.Combine(_dir, "router-tokens.txt"), $"good-token\norders: {Secret} with a space\n");
        File.WriteAllText(Path.Combine(_dir, "connector-token.txt"), $"{Secret} with a space\n");
        using var busy = new TcpListener(IPAddress.Loopback, 0);
        busy.Start();
        var port = ((IPEndPoint)busy.LocalEndpoint).Port.ToString(System.Globalization.CultureInfo.InvariantCulture);
        string Fill(string text) => text.Replace("{busy}", port, StringComparison.Ordinal).Replace("{dir}", _dir, StringComparison.Ordinal);

        await using var process = PutshProcess.Start(output, [.. args.Select(Fill)]);

        Assert.Equal(exitCode, await process.ExitCodeAsync());
        var error = Assert.Single(process.ErrorLines);
        Assert.StartsWith("putsh: ", error, StringComparison.Ordinal);
        Assert.Contains(Fill(named), error, StringComparison.Ordinal);
        Assert.All(process.Lines, line =>
        {
            Assert.DoesNotContain("   at ", line, StringComparison.Ordinal);
            Assert.DoesNotContain("Unhandled exception", line, StringComparison.Ordinal);
            Assert.DoesNotContain(Secret, line, StringComparison.Ordinal);
        });

        // Besides that line, at most the ordinary information logged before the failure (no error or its stack on stdout).
        Assert.All(process.Lines.Except(process.ErrorLines), line => Assert.Matches(@"^\d\d:\d\d:\d\d\.\d{3} info: ", line));
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);
}
