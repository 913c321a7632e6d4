using Putsh.Cli.Commands;

namespace Putsh.Cli.Tests;

/// <summary>Flags, help and errors of the putsh executable, parsed in process.</summary>
public sealed class CommandLineTests
{
    private static async Task<(int Code, string Out, string Err)> RunAsync(params string[] args)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        var code = await Program.RunAsync(args, output, error);
        return (code, output.ToString(), error.ToString());
    }

    [Theory]
    [InlineData("router", "--no-such-flag")]
    [InlineData("connector", "--route", "a", "--bogus", "1")]
    [InlineData("frobnicate")]
    public async Task An_unknown_flag_or_command_exits_2_with_one_line(params string[] args)
    {
        var (code, _, err) = await RunAsync(args);
        Assert.Equal(2, code);
        Assert.Single(err.Trim().Split('\n'));
        Assert.StartsWith("putsh: ", err);
    }

    [Theory]
    [InlineData("--socket-acquire-timeout", "soon", "--socket-acquire-timeout: 'soon' is not a duration")]
    [InlineData("--listen", "ftp://0.0.0.0:1", "--listen: 'ftp://0.0.0.0:1' is not an http:// or https:// address")]
    [InlineData("--via-name", "a space", "ViaName")]
    [InlineData("--longest-prefix-routes", "maybe", "--longest-prefix-routes: 'maybe' is not true or false")]
    [InlineData("--listen", "https://127.0.0.1:0", "needs a certificate")]
    [InlineData("--io-block-size", "1000", "Router:IoBlockSize: 1000 is not from 4096 to 1048576")]
    [InlineData("--io-block-size", "2000000", "Router:IoBlockSize: 2000000 is not from 4096 to 1048576")]
    [InlineData("--io-block-size", "big", "--io-block-size: 'big' is not a whole number")]
    [InlineData("--max-sockets-per-route", "lots", "--max-sockets-per-route: 'lots' is not a whole number (or unlimited)")]
    public async Task A_bad_router_value_exits_2_naming_it(string flag, string value, string expected)
    {
        var (code, _, err) = await RunAsync("router", flag, value, "--register", "http://127.0.0.1:0");
        Assert.Equal(2, code);
        Assert.Contains(expected, err);
        Assert.Single(err.Trim().Split('\n'));
    }

    [Theory]
    [InlineData("--routers", "http://x:1", "is not a ws:// or wss:// address")]
    [InlineData("--route", "bad route", "Route 'bad route' is invalid")]
    [InlineData("--target", "ftp://x", "Target 'ftp://x' is not an http:// or https:// address")]
    [InlineData("--sockets", "0", "Sockets must be between 1 and 1000")]
    [InlineData("--sockets", "ten", "--sockets: 'ten' is not a whole number")]
    [InlineData("--ready-when", "some", "--ready-when: 'some' is not one of any, all")]
    public async Task A_bad_connector_value_exits_2_naming_it(string flag, string value, string expected)
    {
        var args = new Dictionary<string, string> { ["--routers"] = "ws://127.0.0.1:1", ["--route"] = "a", ["--target"] = "http://127.0.0.1:1" };
        args[flag] = value;
        var (code, _, err) = await RunAsync(["connector", .. args.SelectMany(kv => new[] { kv.Key, kv.Value })]);
        Assert.Equal(2, code);
        Assert.Contains(expected, err);
    }

    [Fact]
    public async Task A_missing_required_connector_option_exits_2()
    {
        var (code, _, err) = await RunAsync("connector", "--route", "a", "--target", "http://127.0.0.1:1");
        Assert.Equal(2, code);
        Assert.Contains("At least one router is required", err);
    }

    [Theory]
    [InlineData("router")]
    [InlineData("connector")]
    [InlineData("demo")]
    public async Task Help_lists_every_option_with_its_default(string command)
    {
        var (code, output, _) = await RunAsync(command, "--help");
        Assert.Equal(0, code);
        var settings = command == "connector"
            ? ConnectorCommand.Settings().Settings.Select(s => (s.Flag, s.DefaultText))
            : RouterCommand.Settings("a", "b").Settings.Select(s => (s.Flag, s.DefaultText));
        foreach (var (flag, defaultText) in settings)
        {
            Assert.Contains(flag, output);
        }

        Assert.Contains("[default: ", output);
        Assert.Contains("--config", output);
        if (command == "connector")
        {
            Assert.Contains("[default: 10]", output); // the seed's ten sockets per router
        }
    }
}
