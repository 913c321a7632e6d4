using System.Net;
using System.Net.WebSockets;
using Microsoft.Extensions.Time.Testing;
using Putsh.Tests.Common;
using Xunit.Abstractions;

namespace Putsh.Router.Tests.Registration;

/// <summary>What one source, connector or route may hold on a router: attempts per second and open sockets.</summary>
public sealed class RegistrationLimitTests(ITestOutputHelper output)
{
    /// <summary>Sockets a test opened, aborted before its router stops (so the router's stop waits on no close handshake).</summary>
    private sealed class OpenSockets : List<ClientWebSocket>, IAsyncDisposable
    {
        public ValueTask DisposeAsync()
        {
            foreach (var ws in this)
            {
                ws.Abort();
                ws.Dispose();
            }

            return ValueTask.CompletedTask;
        }
    }

    /// <summary>A registration attempt; the socket stays open (and counted) when it is accepted.</summary>
    private static async Task<HttpStatusCode> RegisterAsync(TestRouter router, string route, string instance, OpenSockets open)
    {
        var ws = new ClientWebSocket();
        ws.Options.CollectHttpResponseDetails = true;
        ws.Options.AddSubProtocol("cranker_3.0");
        ws.Options.SetRequestHeader("CrankerProtocol", "1.0");
        ws.Options.SetRequestHeader("Route", route);
        try
        {
            await ws.ConnectAsync(new Uri(router.RegisterUri, $"/register/?connectorInstanceID={instance}&componentName=limits"), TestTimeouts.Token());
            open.Add(ws);
        }
        catch (WebSocketException)
        {
            ws.Dispose();
        }

        return ws.HttpStatusCode;
    }

    [Fact]
    public async Task Sockets_per_connector_per_route_and_per_source_are_capped_with_429_and_freed_when_sockets_close()
    {
        await using var router = await TestRouter.StartAsync(output, o =>
        {
            o.MaxSocketsPerConnector = 3;
            o.MaxSocketsPerRoute = 5;
            o.MaxSocketsPerSource = 7;
        });
        await using var open = new OpenSockets();

        for (var i = 0; i < 3; i++)
        {
            Assert.Equal(HttpStatusCode.SwitchingProtocols, await RegisterAsync(router, "a", "one", open));
        }

        Assert.Equal(HttpStatusCode.TooManyRequests, await RegisterAsync(router, "a", "one", open)); // per connector
        Assert.Equal(HttpStatusCode.SwitchingProtocols, await RegisterAsync(router, "a", "two", open));
        Assert.Equal(HttpStatusCode.SwitchingProtocols, await RegisterAsync(router, "a", "two", open));
        Assert.Equal(HttpStatusCode.TooManyRequests, await RegisterAsync(router, "a", "three", open)); // per route: 5
        Assert.Equal(HttpStatusCode.SwitchingProtocols, await RegisterAsync(router, "b", "three", open));
        Assert.Equal(HttpStatusCode.SwitchingProtocols, await RegisterAsync(router, "b", "three", open));
        Assert.Equal(HttpStatusCode.TooManyRequests, await RegisterAsync(router, "c", "four", open)); // per source: 7

        // A socket that closes gives its place back.
        var first = open[0];
        await first.CloseAsync(WebSocketCloseStatus.NormalClosure, "", TestTimeouts.Token()).DefaultTimeout();
        await Eventually.True(() => Putsh.Router.Tests.V3.FakeV3Connector.V3Count(router, "*", "a") == 4, "the closed socket to leave");
        Assert.Equal(HttpStatusCode.SwitchingProtocols, await RegisterAsync(router, "c", "four", open));
    }

    [Fact]
    public async Task Registration_attempts_from_one_address_are_rate_limited_with_429_on_the_router_clock()
    {
        var time = new FakeTimeProvider();
        await using var router = await TestRouter.StartAsync(output, o => o.RegistrationsPerSecondPerSource = 2, time: time);
        await using var open = new OpenSockets();

        // Bursts of four times the rate.
        for (var i = 0; i < 8; i++)
        {
            Assert.Equal(HttpStatusCode.SwitchingProtocols, await RegisterAsync(router, "r", "burst", open));
        }

        Assert.Equal(HttpStatusCode.TooManyRequests, await RegisterAsync(router, "r", "burst", open));
        time.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(HttpStatusCode.SwitchingProtocols, await RegisterAsync(router, "r", "burst", open));
        Assert.Equal(HttpStatusCode.SwitchingProtocols, await RegisterAsync(router, "r", "burst", open));
        Assert.Equal(HttpStatusCode.TooManyRequests, await RegisterAsync(router, "r", "burst", open));
    }
}
