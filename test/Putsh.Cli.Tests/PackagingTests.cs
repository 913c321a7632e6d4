using System.Diagnostics;
using System.IO.Compression;
using System.Reflection.Metadata;
using System.Text;
using System.Xml.Linq;
using Xunit.Abstractions;

namespace Putsh.Cli.Tests;

/// <summary>
/// What an operator installs: a library's NuGet package says what it is (licence, repository, readme, tags) and comes
/// with its symbols, and the putsh tool package installs with <c>dotnet tool install</c> and runs. Each test runs the
/// real <c>dotnet pack</c> in Release, into a temporary folder (<c>--artifacts-path</c>: nothing is written to the
/// work tree's bin/ or obj/), shared by the two tests of this class so that the tool's pack reuses the libraries'
/// build.
/// </summary>
[Trait("Category", "Packaging")]
public sealed class PackagingTests(PackagingTests.Scratch scratch, ITestOutputHelper output) : IClassFixture<PackagingTests.Scratch>
{
    private static readonly TimeSpan Limit = TimeSpan.FromMinutes(3);

    [Fact]
    public async Task A_library_package_has_the_licence_repository_readme_tags_and_a_symbol_package()
    {
        var packages = scratch.NewDirectory("protocol-packages");
        await DotnetAsync(["pack", Path.Combine(Repository.Root, "src", "Putsh.Protocol", "Putsh.Protocol.csproj"), "-c", "Release", "-o", packages, .. scratch.BuildArguments]);

        var nupkg = Assert.Single(Directory.GetFiles(packages, "Putsh.Protocol.*.nupkg"));
        var snupkg = Path.ChangeExtension(nupkg, ".snupkg");
        Assert.True(File.Exists(snupkg), $"no symbol package beside {Path.GetFileName(nupkg)}: {string.Join(", ", Directory.GetFiles(packages).Select(Path.GetFileName))}");

        var repositoryUrl = Repository.Url();
        using (var package = ZipFile.OpenRead(nupkg))
        {
            var nuspec = Assert.Single(package.Entries, e => e.FullName.EndsWith(".nuspec", StringComparison.Ordinal));
            XDocument document;
            using (var stream = nuspec.Open())
            {
                document = XDocument.Load(stream);
            }

            var metadata = document.Root!.Elements().Single(e => e.Name.LocalName == "metadata");
            string? Value(string name) => metadata.Elements().SingleOrDefault(e => e.Name.LocalName == name)?.Value;
            var license = metadata.Elements().Single(e => e.Name.LocalName == "license");
            Assert.Equal("expression", license.Attribute("type")?.Value);
            Assert.Equal("MIT", license.Value);
            Assert.Equal("Putsh.Protocol", Value("id"));
            Assert.Equal("The putsh authors", Value("authors"));
            Assert.False(string.IsNullOrWhiteSpace(Value("description")));

            var repository = metadata.Elements().Single(e => e.Name.LocalName == "repository");
            Assert.Equal("git", repository.Attribute("type")?.Value);
            Assert.Equal(repositoryUrl, repository.Attribute("url")?.Value);
            Assert.Equal(repositoryUrl, Value("projectUrl"));

            Assert.Equal("README.md", Value("readme"));
            Assert.Contains(package.Entries, e => e.FullName == "README.md" && e.Length == new FileInfo(Path.Combine(Repository.Root, "README.md")).Length);

            var tags = (Value("tags") ?? "").Split(' ', StringSplitOptions.RemoveEmptyEntries);
            foreach (var tag in new[] { "cranker", "reverse-proxy", "websocket", "load-balancer", "tunnel" })
            {
                Assert.Contains(tag, tags);
            }

            Assert.Contains(package.Entries, e => e.FullName == "lib/net10.0/Putsh.Protocol.dll");
            Assert.Contains(package.Entries, e => e.FullName == "lib/net10.0/Putsh.Protocol.xml");
        }

        using var symbols = ZipFile.OpenRead(snupkg);
        var pdb = Assert.Single(symbols.Entries, e => e.FullName == "lib/net10.0/Putsh.Protocol.pdb");
        if (Directory.Exists(Path.Combine(Repository.Root, ".git")) || File.Exists(Path.Combine(Repository.Root, ".git")))
        {
            // Source Link: the PDB sends a debugger to the repository's sources at the commit built, even from a clone
            // whose origin is a local folder (Directory.Build.targets).
            var sourceLink = SourceLinkJson(pdb);
            var repositoryUri = new Uri(repositoryUrl);
            var content = repositoryUri.Host == "github.com" ? "https://raw.githubusercontent.com" + repositoryUri.AbsolutePath.TrimEnd('/') + "/" : repositoryUri.Host;
            Assert.Contains(content, sourceLink, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task The_tool_package_installs_with_dotnet_tool_install_and_runs()
    {
        var packages = scratch.NewDirectory("tool-packages");
        await DotnetAsync(["pack", Path.Combine(Repository.Root, "src", "Putsh.Cli", "Putsh.Cli.csproj"), "-c", "Release", "-o", packages, .. scratch.BuildArguments]);

        var nupkg = Assert.Single(Directory.GetFiles(packages, "putsh.*.nupkg"));
        var version = Path.GetFileNameWithoutExtension(nupkg)["putsh.".Length..];
        using (var package = ZipFile.OpenRead(nupkg))
        {
            Assert.Contains(package.Entries, e => e.FullName == "tools/net10.0/any/DotnetToolSettings.xml");
            Assert.Contains(package.Entries, e => e.FullName == "tools/net10.0/any/putsh.dll");
        }

        // Only the folder just packed as a source, and a packages folder of its own: nothing from a registry, nothing
        // from (or into) the user's NuGet cache.
        var config = Path.Combine(scratch.NewDirectory("tool-config"), "nuget.config");
        File.WriteAllText(config, $"""
            <?xml version="1.0" encoding="utf-8"?>
            <configuration>
              <packageSources>
                <clear />
                <add key="packed" value="{packages}" />
              </packageSources>
            </configuration>
            """);
        var tools = scratch.NewDirectory("tools");
        var install = await DotnetAsync(
            ["tool", "install", "--tool-path", tools, "--configfile", config, "--version", version, "putsh"],
            new Dictionary<string, string> { ["NUGET_PACKAGES"] = scratch.NewDirectory("nuget-packages") });
        Assert.Contains("was successfully installed", install, StringComparison.Ordinal);

        var (code, help) = await RunAsync(Path.Combine(tools, "putsh"), ["--help"], null);
        Assert.True(code == 0, $"putsh --help exited {code}:\n{help}");
        Assert.Contains("router", help, StringComparison.Ordinal);
        Assert.Contains("connector", help, StringComparison.Ordinal);
    }

    private static string SourceLinkJson(ZipArchiveEntry pdb)
    {
        var sourceLinkKind = new Guid("CC110556-A091-4D38-9FEC-25AB9A351A6A");
        using var copy = new MemoryStream();
        using (var stream = pdb.Open())
        {
            stream.CopyTo(copy);
        }

        copy.Position = 0;
        using var provider = MetadataReaderProvider.FromPortablePdbStream(copy);
        var reader = provider.GetMetadataReader();
        foreach (var handle in reader.GetCustomDebugInformation(EntityHandle.ModuleDefinition))
        {
            var information = reader.GetCustomDebugInformation(handle);
            if (reader.GetGuid(information.Kind) == sourceLinkKind)
            {
                return Encoding.UTF8.GetString(reader.GetBlobBytes(information.Value));
            }
        }

        throw new Xunit.Sdk.XunitException("the PDB has no Source Link");
    }

    private async Task<string> DotnetAsync(string[] args, IReadOnlyDictionary<string, string>? environment = null)
    {
        var (code, text) = await RunAsync("dotnet", args, environment);
        Assert.True(code == 0, $"dotnet {string.Join(' ', args)} exited {code}:\n{text}");
        return text;
    }

    private async Task<(int Code, string Output)> RunAsync(string file, string[] args, IReadOnlyDictionary<string, string>? environment)
    {
        var info = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false, WorkingDirectory = scratch.Root };
        foreach (var a in args)
        {
            info.ArgumentList.Add(a);
        }

        // This process runs under dotnet test: what MSBuild told it about itself must not steer the build it starts.
        foreach (var name in info.Environment.Keys.Where(k => k.StartsWith("MSBuild", StringComparison.OrdinalIgnoreCase) || k == "DOTNET_HOST_PATH").ToList())
        {
            info.Environment.Remove(name);
        }

        info.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        info.Environment["DOTNET_NOLOGO"] = "1";
        info.Environment["DOTNET_SKIP_FIRST_TIME_EXPERIENCE"] = "1";
        foreach (var (name, value) in environment ?? new Dictionary<string, string>())
        {
            info.Environment[name] = value;
        }

        var started = Stopwatch.StartNew();
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var limit = new CancellationTokenSource(Limit);
        try
        {
            await process.WaitForExitAsync(limit.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{file} {string.Join(' ', args)} did not end within {Limit}");
        }

        var text = (await stdout + await stderr).Trim();
        output.WriteLine($"$ {file} {string.Join(' ', args)}  ({started.Elapsed.TotalSeconds:F1} s, exit {process.ExitCode})");
        output.WriteLine(text);
        return (process.ExitCode, text);
    }

    /// <summary>One temporary folder for the class's tests (the shared build and each test's own folders), removed after them.</summary>
    public sealed class Scratch : IDisposable
    {
        private int _next;

        public string Root { get; } = Directory.CreateTempSubdirectory("putsh-packaging-").FullName;

        /// <summary>
        /// A build of its own (<c>--artifacts-path</c>), one node and no build servers: no process is left running to
        /// hold this test's output open, and nothing of the work tree's own build is touched.
        /// </summary>
        public string[] BuildArguments => ["--artifacts-path", Path.Combine(Root, "artifacts"), "--disable-build-servers", "-m:1", "-nologo"];

        public string NewDirectory(string name) => Directory.CreateDirectory(Path.Combine(Root, $"{Interlocked.Increment(ref _next)}-{name}")).FullName;

        public void Dispose()
        {
            try
            {
                Directory.Delete(Root, recursive: true);
            }
            catch (IOException)
            {
                // a file still open somewhere: the temporary folder is the system's to clean
            }
        }
    }
}

/// <summary>The repository these tests run from, and what src/Directory.Build.props says about it.</summary>
internal static class Repository
{
    public static string Root { get; } = FindRoot();

    /// <summary>RepositoryUrl from src/Directory.Build.props: the one place the address is written.</summary>
    public static string Url()
    {
        var props = XDocument.Load(Path.Combine(Root, "src", "Directory.Build.props"));
        return props.Descendants().Single(e => e.Name.LocalName == "RepositoryUrl").Value.Trim();
    }

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Putsh.slnx")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException("Putsh.slnx not found above " + AppContext.BaseDirectory);
    }
}
