using System.Net;
using System.Net.WebSockets;
using Microsoft.Extensions.Time.Testing;
using Putsh.Router.Tests.V3;
using Putsh.Tests.Common;
using Xunit.Abstractions;

namespace Putsh.Router.Tests.Routing;

/// <summary><see cref="RouterOptions.RoutesKeepTime"/> for cranker_3.0 routes: 503 while a route that lost its sockets is remembered, 404 after.</summary>
public sealed class RoutesKeepTimeTests(ITestOutputHelper output)
{
    [Fact]
    public async Task A_v3_route_whose_connectors_left_answers_503_until_its_keep_time_is_over_then_404()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UnixEpoch);
        await using var router = await TestRouter.StartAsync(output, o => o.RoutesKeepTime = TimeSpan.FromMinutes(5), time: time);
        var connector = await FakeV3Connector.ConnectAndWaitAsync(router, "svc");
        await connector.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "bye");
        await connector.DisposeAsync();
        await FakeV3Connector.WaitUntilAsync(() => FakeV3Connector.V3Count(router, "*", "svc") == 0, "the socket gone from the pool");

        Assert.Equal(HttpStatusCode.ServiceUnavailable, await StatusAsync(router));
        time.Advance(TimeSpan.FromMinutes(4));
        Assert.Equal(HttpStatusCode.ServiceUnavailable, await StatusAsync(router));
        time.Advance(TimeSpan.FromMinutes(2));
        Assert.Equal(HttpStatusCode.NotFound, await StatusAsync(router));
    }

    private static async Task<HttpStatusCode> StatusAsync(TestRouter router)
    {
        using var response = await router.Client.GetAsync("/svc/x").DefaultTimeout();
        return response.StatusCode;
    }
}
