using Microsoft.Extensions.Logging;
using Putsh.Cli.Commands;
using Putsh.Cli.Hosting;
using Putsh.Router;
using Putsh.Tests.Common;
using Xunit.Abstractions;

namespace Putsh.Cli.Tests;

/// <summary>
/// A router composed exactly as <c>putsh router</c> composes it (<see cref="RouterCommand.Build"/>: TLS from PEM files,
/// several addresses per role, listener limits), in process, for tests of that composition. Tests of the router
/// library use <see cref="TestRouter.StartAsync(ITestOutputHelper?, Action{Putsh.Router.RouterOptions}?, bool, string, TimeProvider?, int, Microsoft.AspNetCore.Server.Kestrel.Core.HttpProtocols)"/>.
/// </summary>
internal static class CliTestRouter
{
    /// <summary>As <c>putsh router --listen http://127.0.0.1:0 --register http://127.0.0.1:0</c> (one shared port with <paramref name="sharedPort"/>).</summary>
    public static Task<TestRouter> StartAsync(ITestOutputHelper? output = null, Action<RouterOptions>? configure = null, bool sharedPort = false, string name = "router", TimeProvider? time = null)
    {
        RouterSettings Settings(string listen, string register)
        {
            var settings = new RouterSettings { Listen = [listen], Register = [register], Time = time };
            configure?.Invoke(settings.Options);
            return settings;
        }

        return sharedPort
            ? StartOnFreePortAsync(port => Settings($"http://127.0.0.1:{port}", $"http://127.0.0.1:{port}"), output, name)
            : StartAsync(Settings("http://127.0.0.1:0", "http://127.0.0.1:0"), output, name);
    }

    public static Task<TestRouter> StartAsync(RouterSettings settings, ITestOutputHelper? output, string name = "router")
    {
        var app = RouterCommand.Build(settings, LogLevel.Debug, out var listeners, logging => TestRouter.LogTo(logging, output, name));
        return TestRouter.StartAsync(app, () => (new Uri(listeners.Urls(ListenerRole.Clients)[0]), new Uri(listeners.Urls(ListenerRole.Registration)[0])));
    }

    /// <summary>Starts a router whose settings need a port number chosen up front; see <see cref="TestRouter.StartOnFreePortAsync"/>.</summary>
    public static Task<TestRouter> StartOnFreePortAsync(Func<int, RouterSettings> settings, ITestOutputHelper? output, string name = "router") =>
        TestRouter.StartOnFreePortAsync(port => StartAsync(settings(port), output, name));
}
