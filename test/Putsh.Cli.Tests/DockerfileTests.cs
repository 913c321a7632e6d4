using System.Text.RegularExpressions;

namespace Putsh.Cli.Tests;

/// <summary>
/// The Dockerfile, read as text (no container engine runs here): what it copies exists, the image runs the Native
/// AOT binary as a non-root user, and its health check is a command the executable has, on a port it exposes.
/// </summary>
public sealed partial class DockerfileTests
{
    [Fact]
    public async Task The_image_builds_from_files_that_exist_runs_unprivileged_and_checks_health_with_putsh_probe()
    {
        var root = RepositoryRoot();
        var text = File.ReadAllText(Path.Combine(root, "Dockerfile"));
        var lines = text.Replace("\\\n", " ", StringComparison.Ordinal).Split('\n').Select(l => l.Trim()).Where(l => l.Length > 0 && !l.StartsWith('#')).ToList();

        // Every COPY from the build context names something in the repository (a glob matches at least one file).
        foreach (var copy in lines.Where(l => l.StartsWith("COPY ", StringComparison.Ordinal) && !l.Contains("--from=", StringComparison.Ordinal)))
        {
            var sources = copy.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1..^1];
            foreach (var source in sources.Where(s => !s.EndsWith('*')))
            {
                Assert.True(File.Exists(Path.Combine(root, source)) || Directory.Exists(Path.Combine(root, source)), $"the Dockerfile copies '{source}', which does not exist");
            }
        }

        Assert.Contains(lines, l => l.StartsWith("RUN dotnet publish src/Putsh.Cli/Putsh.Cli.csproj", StringComparison.Ordinal) && l.Contains("-p:PublishAot=true", StringComparison.Ordinal));
        var final = lines.FindLastIndex(l => l.StartsWith("FROM ", StringComparison.Ordinal));
        var runtime = lines[final..];
        var user = runtime.Single(l => l.StartsWith("USER ", StringComparison.Ordinal))["USER ".Length..].Split(':')[0];
        Assert.NotEqual("0", user);
        Assert.NotEqual("root", user);

        var health = HealthCheck().Match(string.Join('\n', runtime));
        Assert.True(health.Success, "no HEALTHCHECK CMD [\"/putsh\", \"probe\", ...] in the final stage");
        var port = health.Groups["port"].Value;
        Assert.Contains(runtime, l => l.StartsWith("EXPOSE ", StringComparison.Ordinal) && l.Split(' ').Contains(port));

        // The health check's command line is one the executable accepts (probe against a port nothing listens on: 1, not 2).
        var exit = await Program.RunAsync(["probe", "--timeout", "2s", "http://127.0.0.1:1/health/ready"], TextWriter.Null, TextWriter.Null);
        Assert.Equal(Commands.ProbeCommand.Unhealthy, exit);
    }

    [GeneratedRegex("""HEALTHCHECK .*CMD \["/putsh", "probe", "--timeout", "\d+s", "http://127\.0\.0\.1:(?<port>\d+)/health/ready"\]""")]
    private static partial Regex HealthCheck();

    internal static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Dockerfile")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException("Dockerfile not found above " + AppContext.BaseDirectory);
    }
}
