using Microsoft.Extensions.Logging;
using Putsh.Connector;
using Xunit.Abstractions;

namespace Putsh.Tests.Common;

/// <summary>Starts real connectors with test-friendly settings and waits until their sockets are registered.</summary>
public static class TestConnector
{
    /// <summary>Offer cranker_1.0 only, for tests of 1.0 behaviour (single-use sockets, waiting for a socket).</summary>
    public static void V1Only(ConnectorOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Protocols.Clear();
        options.Protocols.Add("cranker_1.0");
    }

    /// <summary>Offer cranker_3.0 only.</summary>
    public static void V3Only(ConnectorOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Protocols.Clear();
        options.Protocols.Add("cranker_3.0");
    }

    /// <summary>A connector with the tests' options (fast reconnects, debug logs to <paramref name="output"/>), not started.</summary>
    public static CrankerConnector Create(IEnumerable<Uri> routers, string route, Uri target, ITestOutputHelper? output = null, Action<ConnectorOptions>? configure = null, int sockets = 2, string name = "connector") =>
        Create(routers, route, target, output, configure, sockets, name, out _);

    private static CrankerConnector Create(IEnumerable<Uri> routers, string route, Uri target, ITestOutputHelper? output, Action<ConnectorOptions>? configure, int sockets, string name, out ConnectorOptions configured)
    {
        ArgumentNullException.ThrowIfNull(routers);
        ArgumentNullException.ThrowIfNull(target);
        var options = new ConnectorOptions
        {
            Route = route,
            Target = target.ToString(),
            Sockets = sockets,
            ReconnectInitialDelay = TimeSpan.FromMilliseconds(50),
            ReconnectMaxDelay = TimeSpan.FromMilliseconds(500),
            ShutdownTimeout = TimeSpan.FromSeconds(20),
        };
        foreach (var r in routers)
        {
            options.Routers.Add(r.ToString());
        }

        configure?.Invoke(options);
        configured = options;
        var loggerFactory = LoggerFactory.Create(b =>
        {
            b.SetMinimumLevel(LogLevel.Debug);
            if (output is not null)
            {
                b.AddProvider(new XunitLoggerProvider(output, name));
            }
        });
        return new CrankerConnector(options, loggerFactory);
    }

    public static async Task<CrankerConnector> StartAsync(IEnumerable<Uri> routers, string route, Uri target, ITestOutputHelper? output = null, Action<ConnectorOptions>? configure = null, int sockets = 2, string name = "connector", bool waitForSockets = true)
    {
        var connector = Create(routers, route, target, output, configure, sockets, name, out var options);
        await connector.StartAsync().DefaultTimeout();
        if (waitForSockets)
        {
            await connector.WaitForIdleSocketsAsync(options.Sockets, TestTimeouts.Token()).DefaultTimeout();
        }

        return connector;
    }

    /// <summary>
    /// Starts a connector for <paramref name="router"/> and returns once the router itself holds its sockets (the
    /// connector sees a socket open a moment before the router has put it in its pool).
    /// </summary>
    public static async Task<CrankerConnector> StartAsync(TestRouter router, string route, TestBackend backend, ITestOutputHelper? output = null, Action<ConnectorOptions>? configure = null, int sockets = 2, string name = "connector")
    {
        ArgumentNullException.ThrowIfNull(router);
        var domain = "*";
        var connector = await StartAsync([router.RegisterUri], route, backend.Uri, output, o =>
        {
            configure?.Invoke(o);
            domain = o.Domain;
        }, sockets, name);
        var v3 = connector.Routers[0].Protocol == "cranker_3.0";
        var deadline = DateTime.UtcNow + TestTimeouts.Default;
        while ((v3 ? router.V3Pool(route, domain)?.Count : router.V1Pool(route)?.IdleCount) < sockets)
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"the router never held {sockets} sockets for route {route}");
            }

            await Task.Delay(TimeSpan.FromMilliseconds(10));
        }

        return connector;
    }
}
