namespace Putsh.Cli.Tests;

/// <summary>
/// deploy/release.sh, without building a release (Native AOT takes minutes): it is valid bash, says what it makes for
/// both architectures and checksums it, and answers --help and a bad argument without building anything.
/// </summary>
public sealed class ReleaseScriptTests
{
    private static string Script => Path.Combine(Repository.Root, "deploy", "release.sh");

    [Fact]
    public async Task The_release_script_is_valid_bash_and_builds_both_architectures_with_checksums()
    {
        var (code, output) = await ShortProcess.RunAsync("bash", ["-n", Script]);
        Assert.True(code == 0, $"bash -n deploy/release.sh exited {code}:\n{output}");

        var text = File.ReadAllText(Script);
        Assert.StartsWith("#!/usr/bin/env bash\n", text, StringComparison.Ordinal);
        Assert.Contains("\nset -euo pipefail\n", text, StringComparison.Ordinal);
        Assert.Contains("linux-x64", text, StringComparison.Ordinal);
        Assert.Contains("linux-arm64", text, StringComparison.Ordinal);
        Assert.Contains("archs=(x64 arm64)", text, StringComparison.Ordinal);
        Assert.Contains("-p:PublishAot=true", text, StringComparison.Ordinal);
        Assert.Contains("sha256sum -- ", text, StringComparison.Ordinal);
        Assert.Contains(">SHA256SUMS", text, StringComparison.Ordinal);
        Assert.Contains("artifacts/release", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_release_script_answers_help_and_refuses_an_unknown_architecture_before_building()
    {
        var (help, helpText) = await ShortProcess.RunAsync("bash", [Script, "--help"]);
        Assert.Equal(0, help);
        Assert.Contains("--arch x64|arm64|all", helpText, StringComparison.Ordinal);
        Assert.Contains("SHA256SUMS", helpText, StringComparison.Ordinal);

        var (bad, badText) = await ShortProcess.RunAsync("bash", [Script, "--arch", "riscv64"]);
        Assert.Equal(2, bad);
        Assert.Contains("--arch takes x64, arm64 or all", badText, StringComparison.Ordinal);
    }

    [SkippableFact]
    public async Task The_release_script_passes_shellcheck()
    {
        var shellcheck = new[] { "/usr/bin/shellcheck", "/bin/shellcheck", "/usr/local/bin/shellcheck" }.FirstOrDefault(File.Exists);
        Skip.If(shellcheck is null, "shellcheck is not installed here");
        var (code, output) = await ShortProcess.RunAsync(shellcheck!, [Script]);
        Assert.True(code == 0, $"shellcheck deploy/release.sh exited {code}:\n{output}");
    }
}
