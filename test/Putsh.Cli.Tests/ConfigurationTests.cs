using Putsh.Cli.Commands;

namespace Putsh.Cli.Tests;

[CollectionDefinition("environment", DisableParallelization = true)]
public sealed class EnvironmentCollection;

/// <summary>Defaults &lt; JSON file &lt; PUTSH_ environment variables &lt; flags.</summary>
[Collection("environment")]
public sealed class ConfigurationTests : IDisposable
{
    private readonly string _file = Path.Combine(Path.GetTempPath(), $"putsh-test-{Guid.NewGuid():N}.json");

    [Fact]
    public void Router_settings_are_layered_file_then_environment_then_flags()
    {
        File.WriteAllText(_file, """
            { "Router": { "MaxWait": "7s", "IdleTimeout": "45s", "ViaName": "from-file", "Listen": [ "http://127.0.0.1:9001", "http://127.0.0.1:9002" ] } }
            """);
        Environment.SetEnvironmentVariable("PUTSH_Router__IdleTimeout", "30s");
        Environment.SetEnvironmentVariable("PUTSH_Router__ViaName", "from-env");
        try
        {
            var parse = Program.CreateRoot().Parse(["router", "--config", _file, "--via-name", "from-flag"]);
            Assert.Empty(parse.Errors);
            var (settings, _) = RouterCommand.Resolve(parse, RouterCommand.Settings("x", "y"), new RouterSettings());

            Assert.Equal(TimeSpan.FromSeconds(7), settings.Options.SocketAcquireTimeout); // file
            Assert.Equal(TimeSpan.FromSeconds(30), settings.Options.IdleTimeout); // env over file
            Assert.Equal("from-flag", settings.Options.ViaName); // flag over env
            Assert.Equal(["http://127.0.0.1:9001", "http://127.0.0.1:9002"], settings.Listen);
            Assert.Equal(TimeSpan.FromSeconds(10), settings.Options.PingInterval); // default
        }
        finally
        {
            Environment.SetEnvironmentVariable("PUTSH_Router__IdleTimeout", null);
            Environment.SetEnvironmentVariable("PUTSH_Router__ViaName", null);
        }
    }

    [Fact]
    public void Connector_settings_come_from_the_environment_with_lists_comma_separated()
    {
        Environment.SetEnvironmentVariable("PUTSH_Connector__Router", "ws://127.0.0.1:1,ws://127.0.0.1:2");
        Environment.SetEnvironmentVariable("PUTSH_Connector__Sockets", "4");
        try
        {
            var parse = Program.CreateRoot().Parse(["connector", "--route", "svc", "--target", "http://127.0.0.1:3"]);
            var (options, _) = ConnectorCommand.Resolve(parse, ConnectorCommand.Settings());

            Assert.Equal(["ws://127.0.0.1:1", "ws://127.0.0.1:2"], options.Routers);
            Assert.Equal(4, options.Sockets);
            Assert.Equal("svc", options.Route);
            options.Validate();
        }
        finally
        {
            Environment.SetEnvironmentVariable("PUTSH_Connector__Router", null);
            Environment.SetEnvironmentVariable("PUTSH_Connector__Sockets", null);
        }
    }

    [Fact]
    public void Repeated_router_flags_mean_several_routers()
    {
        var parse = Program.CreateRoot().Parse(["connector", "--router", "ws://127.0.0.1:1", "--router", "wss://127.0.0.1:2", "--route", "r", "--target", "http://127.0.0.1:3"]);
        Assert.Empty(parse.Errors);
        var (options, _) = ConnectorCommand.Resolve(parse, ConnectorCommand.Settings());
        Assert.Equal(["ws://127.0.0.1:1", "wss://127.0.0.1:2"], options.Routers);
        Assert.Equal(10, options.Sockets);
    }

    [Fact]
    public async Task A_config_file_that_is_missing_exits_2()
    {
        using var error = new StringWriter();
        var code = await Program.RunAsync(["router", "--config", "/nonexistent/putsh.json"], TextWriter.Null, error);
        Assert.Equal(2, code);
        Assert.Contains("--config: '/nonexistent/putsh.json' does not exist", error.ToString());
    }

    public void Dispose() => File.Delete(_file);
}
