using Putsh.Connector;
using Putsh.Cli.Tests;
using Putsh.Tests.Common;

namespace Putsh.FunctionalTests;

/// <summary>One router, one backend and one connector for route <c>app</c>, shared by the plain proxying tests.</summary>
public abstract class ProxyFixture : IAsyncLifetime
{
    /// <summary>The protocol the connector offers.</summary>
    public abstract string Protocol { get; }

    public TestRouter Router { get; private set; } = null!;

    public TestBackend Backend { get; private set; } = null!;

    public CrankerConnector Connector { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Backend = await TestBackend.StartAsync(app => Backends.Map(app));
        Router = await CliTestRouter.StartAsync();
        Connector = await TestConnector.StartAsync(Router, "app", Backend, configure: o =>
        {
            o.Protocols.Clear();
            o.Protocols.Add(Protocol);
        }, sockets: 4);
        Assert.Equal(Protocol, Connector.Routers[0].Protocol);
    }

    public async Task DisposeAsync()
    {
        await Connector.DisposeAsync();
        await Router.DisposeAsync();
        await Backend.DisposeAsync();
    }
}

public sealed class V1ProxyFixture : ProxyFixture
{
    public override string Protocol => "cranker_1.0";
}

public sealed class V3ProxyFixture : ProxyFixture
{
    public override string Protocol => "cranker_3.0";
}
