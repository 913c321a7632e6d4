using Putsh.Connector;
using Putsh.Tests.Common;

namespace Putsh.FunctionalTests;

/// <summary>One router, one backend and one connector for route <c>app</c>, shared by the plain proxying tests.</summary>
public sealed class ProxyFixture : IAsyncLifetime
{
    public TestRouter Router { get; private set; } = null!;

    public TestBackend Backend { get; private set; } = null!;

    public CrankerConnector Connector { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Backend = await TestBackend.StartAsync(app => Backends.Map(app));
        Router = await TestRouter.StartAsync();
        Connector = await TestConnector.StartAsync(Router, "app", Backend, sockets: 4);
    }

    public async Task DisposeAsync()
    {
        await Connector.DisposeAsync();
        await Router.DisposeAsync();
        await Backend.DisposeAsync();
    }
}
