using Putsh.Cli.Commands;
using Putsh.Cli.Hosting;

namespace Putsh.Cli.Tests;

/// <summary>One name per setting: the same key in flags, JSON and PUTSH_ variables, unknown ones refused, and <c>putsh check</c>.</summary>
[Collection("environment")]
public sealed class OneNameConfigurationTests : IDisposable
{
    private readonly string _file = Path.Combine(Path.GetTempPath(), $"putsh-test-{Guid.NewGuid():N}.json");

    private static async Task<(int Code, string Out, string Err)> RunAsync(params string[] args)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        var code = await Program.RunAsync(args, output, error);
        return (code, output.ToString(), error.ToString());
    }

    [Fact]
    public async Task Unknown_keys_and_unknown_putsh_variables_exit_2_naming_each_as_written()
    {
        File.WriteAllText(_file, """{ "Router": { "IdleTimout": "5s", "MaxWait": "2s" }, "Routr": {} }""");
        Environment.SetEnvironmentVariable("PUTSH_Router__PingIntervall", "1s");
        try
        {
            var (code, _, err) = await RunAsync("router", "--config", _file);
            Assert.Equal(2, code);
            Assert.Single(err.Trim().Split('\n'));
            Assert.Contains($"Router:IdleTimout in {_file}: unknown setting", err);
            Assert.Contains($"Router:MaxWait in {_file}: unknown setting (now SocketAcquireTimeout)", err);
            Assert.Contains($"Routr in {_file}: unknown setting", err);
            Assert.Contains("PUTSH_Router__PingIntervall: unknown setting", err);
        }
        finally
        {
            Environment.SetEnvironmentVariable("PUTSH_Router__PingIntervall", null);
        }
    }

    [Fact]
    public async Task A_malformed_value_is_named_by_the_layer_that_gave_it()
    {
        File.WriteAllText(_file, """{ "Connector": { "Sockets": "many" } }""");
        Environment.SetEnvironmentVariable("PUTSH_Connector__PingInterval", "often");
        try
        {
            var (code, _, err) = await RunAsync("connector", "--config", _file, "--silence-timeout", "later", "--routers", "ws://127.0.0.1:1", "--route", "r", "--target", "http://127.0.0.1:2");
            Assert.Equal(2, code);
            Assert.Contains($"Connector:Sockets in {_file}: 'many' is not a whole number", err);
            Assert.Contains("PUTSH_Connector__PingInterval: 'often' is not a duration", err);
            Assert.Contains("--silence-timeout: 'later' is not a duration", err);
        }
        finally
        {
            Environment.SetEnvironmentVariable("PUTSH_Connector__PingInterval", null);
        }
    }

    [Fact]
    public async Task A_json_syntax_error_is_reported_with_its_line_and_column()
    {
        File.WriteAllText(_file, "{\n  \"Router\": {\n    \"Listen\": [\"http://127.0.0.1:0\",, ]\n  }\n}\n");
        var (code, _, err) = await RunAsync("router", "--config", _file);
        Assert.Equal(2, code);
        Assert.Contains("is not valid JSON: line 3, column 37:", err);
    }

    [Fact]
    public async Task A_renamed_flag_is_told_its_new_name()
    {
        var (code, _, err) = await RunAsync("connector", "--router", "ws://127.0.0.1:1");
        Assert.Equal(2, code);
        Assert.StartsWith("putsh: --router is now --routers", err);
    }

    [Fact]
    public void A_list_is_taken_whole_from_the_highest_layer_and_none_empties_it()
    {
        File.WriteAllText(_file, """{ "Router": { "Listen": ["http://127.0.0.1:9001", "http://127.0.0.1:9002"], "Admin": ["http://127.0.0.1:9003"], "Protocols": "cranker_3.0", "MaxSocketsPerRoute": "unlimited" } }""");
        Environment.SetEnvironmentVariable("PUTSH_Router__Admin", "none");
        try
        {
            var parse = Program.CreateRoot().Parse(["router", "--config", _file, "--listen", "http://127.0.0.1:9004", "--access-log"]);
            Assert.Empty(parse.Errors);
            var (settings, _) = RouterCommand.Resolve(parse, RouterCommand.Settings("x", "y"), new RouterSettings());

            Assert.Equal(["http://127.0.0.1:9004"], settings.Listen); // the flag's list, not its first entry over the file's
            Assert.Empty(settings.Admin);
            Assert.Equal(["cranker_3.0"], settings.Options.Protocols); // replaces the default list
            Assert.Null(settings.Options.MaxSocketsPerRoute);
            Assert.True(settings.Options.AccessLog);
        }
        finally
        {
            Environment.SetEnvironmentVariable("PUTSH_Router__Admin", null);
        }
    }

    [Fact]
    public void Every_flag_is_its_propertys_name_in_kebab_case_and_every_key_binds_its_property()
    {
        foreach (var table in CommonOptions.KnownSections())
        {
            foreach (var s in table.Settings)
            {
                Assert.Equal(s.Name, s.Property.Name);
                Assert.Equal(s.Name.ToLowerInvariant(), s.Flag[2..].Replace("-", "", StringComparison.Ordinal));
                Assert.Equal($"PUTSH_{table.Section}__{s.Name}", s.EnvironmentVariable);
            }
        }

        Assert.Equal("--socket-acquire-timeout", RouterCommand.Settings("x", "y").Find("SocketAcquireTimeout")!.Flag);
        Assert.Equal("--websockets", ConnectorCommand.Settings().Find("WebSockets")!.Flag);
    }

    [Fact]
    public async Task Check_prints_the_effective_configuration_with_secrets_masked()
    {
        File.WriteAllText(_file, """
            { "LogLevel": "Debug",
              "Router": { "SocketAcquireTimeout": "2500ms", "RegistrationTokens": ["s3cret-one"], "AdminToken": "s3cret-two" },
              "Connector": { "Routers": "ws://127.0.0.1:1,ws://127.0.0.1:2", "Route": "hello", "Target": "http://127.0.0.1:3", "Token": "s3cret-three" } }
            """);
        var (code, output, err) = await RunAsync("check", "--config", _file);
        Assert.True(code == 0, err);
        Assert.DoesNotContain("s3cret", output);
        using var json = System.Text.Json.JsonDocument.Parse(output);
        var router = json.RootElement.GetProperty("Router");
        Assert.Equal("2500ms", router.GetProperty("SocketAcquireTimeout").GetString());
        Assert.Equal("10s", router.GetProperty("PingInterval").GetString()); // a default
        Assert.Equal("***", router.GetProperty("AdminToken").GetString());
        Assert.Equal("***", router.GetProperty("RegistrationTokens").GetString());
        var connector = json.RootElement.GetProperty("Connector");
        Assert.Equal(2, connector.GetProperty("Routers").GetArrayLength());
        Assert.Equal(10, connector.GetProperty("Sockets").GetInt32());
        Assert.Equal("Debug", json.RootElement.GetProperty("LogLevel").GetString());

        // A configuration that would not start is refused the way the command would refuse it.
        File.WriteAllText(_file, """{ "Connector": { "Route": "hello", "Target": "http://127.0.0.1:3" } }""");
        (code, _, err) = await RunAsync("check", "--config", _file);
        Assert.Equal(2, code);
        Assert.Contains("At least one router is required", err);
    }

    [Fact]
    public void The_configuration_reference_in_docs_is_generated_from_the_settings()
    {
        var path = Path.Combine(DockerfileTests.RepositoryRoot(), "docs", "configuration.md");
        var expected = ConfigurationReference.Render();
        if (Environment.GetEnvironmentVariable("UPDATE_DOCS") == "1")
        {
            File.WriteAllText(path, expected);
        }

        Assert.True(File.Exists(path), "docs/configuration.md is missing: run UPDATE_DOCS=1 dotnet test test/Putsh.Cli.Tests --filter ConfigurationReference");
        Assert.True(File.ReadAllText(path).ReplaceLineEndings("\n") == expected, "docs/configuration.md is out of date: run UPDATE_DOCS=1 dotnet test test/Putsh.Cli.Tests --filter configuration_reference");
        foreach (var table in CommonOptions.KnownSections())
        {
            foreach (var s in table.Settings)
            {
                Assert.Contains($"| `{s.Flag}` | `{s.Name}` | `{s.EnvironmentVariable}` |", expected);
            }
        }
    }

    public void Dispose() => File.Delete(_file);
}
