using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Console;
using Microsoft.Extensions.Options;
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
            { "Router": { "SocketAcquireTimeout": "7s", "IdleTimeout": "45s", "ViaName": "from-file", "Listen": [ "http://127.0.0.1:9001", "http://127.0.0.1:9002" ] } }
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

    [Theory]
    [InlineData(new string[0], null, true)]
    [InlineData(new[] { "--inline-io" }, null, true)]
    [InlineData(new[] { "--inline-io", "false" }, null, false)]
    [InlineData(new[] { "--inline-io", "off" }, "true", false)]
    [InlineData(new string[0], "false", false)]
    [InlineData(new[] { "--inline-io", "yes" }, "false", true)]
    public void Inline_io_is_on_by_default_and_set_by_flag_over_environment(string[] flags, string? environment, bool expected)
    {
        Environment.SetEnvironmentVariable("PUTSH_InlineIo", environment);
        try
        {
            foreach (var command in new[] { "router", "connector", "demo" })
            {
                var parse = Program.CreateRoot().Parse([command, .. flags]);
                Assert.Empty(parse.Errors);
                Assert.Equal(expected, CommonOptions.InlineIo(parse, CommonOptions.LoadConfiguration(parse).Common));
            }
        }
        finally
        {
            Environment.SetEnvironmentVariable("PUTSH_InlineIo", null);
        }
    }

    [Fact]
    public async Task Logging_never_makes_an_io_thread_wait_for_the_console()
    {
        var connectorOptions = new Putsh.Connector.ConnectorOptions { Route = "r", Target = "http://127.0.0.1:1" };
        connectorOptions.Routers.Add("ws://127.0.0.1:2");
        using var connector = ConnectorCommand.Build(connectorOptions, Microsoft.Extensions.Logging.LogLevel.Warning);
        await using var router = RouterCommand.Build(new RouterSettings { Listen = ["http://127.0.0.1:0"], Register = ["http://127.0.0.1:0"] }, Microsoft.Extensions.Logging.LogLevel.Warning, out _);
        foreach (var services in new[] { connector.Services, router.Services })
        {
            var console = services.GetRequiredService<IOptions<ConsoleLoggerOptions>>().Value;
            Assert.Equal(ConsoleLoggerQueueFullMode.DropWrite, console.QueueFullMode);
        }
    }

    [Fact]
    public void Inline_io_refuses_a_value_that_is_not_a_boolean_and_leaves_a_test_host_alone()
    {
        var parse = Program.CreateRoot().Parse(["router", "--inline-io", "maybe"]);
        var ex = Assert.Throws<Hosting.UsageException>(() => CommonOptions.InlineIo(parse, CommonOptions.LoadConfiguration(parse).Common));
        Assert.Contains("--inline-io: 'maybe'", ex.Message, StringComparison.Ordinal);

        // Only the executable's Main may change how the process runs its sockets: this test host keeps its own.
        var before = Environment.GetEnvironmentVariable(Hosting.ProcessIo.InlineCompletionsVariable);
        Assert.False(Hosting.ProcessIo.Configure(inline: before != "1"));
        Assert.Equal(before, Environment.GetEnvironmentVariable(Hosting.ProcessIo.InlineCompletionsVariable));
    }

    [Fact]
    public void Connector_settings_come_from_the_environment_with_lists_comma_separated()
    {
        Environment.SetEnvironmentVariable("PUTSH_Connector__Routers", "ws://127.0.0.1:1,ws://127.0.0.1:2");
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
            Environment.SetEnvironmentVariable("PUTSH_Connector__Routers", null);
            Environment.SetEnvironmentVariable("PUTSH_Connector__Sockets", null);
        }
    }

    [Fact]
    public void Repeated_router_flags_mean_several_routers()
    {
        var parse = Program.CreateRoot().Parse(["connector", "--routers", "ws://127.0.0.1:1", "--routers", "wss://127.0.0.1:2", "--route", "r", "--target", "http://127.0.0.1:3"]);
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
