using System.Net;
using System.Net.WebSockets;
using System.Text;
using Putsh.Tests.Common;
using Xunit.Abstractions;

namespace Putsh.Router.Tests.V1;

/// <summary>
/// An idle cranker_1.0 socket waits for its first frame with a zero-byte receive and holds no buffer meanwhile. The
/// keep-alive still works both ways through that wait, and the socket still serves its request afterwards.
/// </summary>
public sealed class IdleSocketTests(ITestOutputHelper output)
{
    [Fact]
    public async Task An_idle_socket_keeps_alive_both_ways_for_longer_than_the_idle_timeout_and_then_serves_its_request()
    {
        var interval = TimeSpan.FromMilliseconds(100);
        var timeout = TimeSpan.FromSeconds(1);
        const int Enough = 20; // the router's pings are at least an interval apart: twenty span twice its timeout
        await using var router = await TestRouter.StartAsync(output, o =>
        {
            o.PingInterval = interval;
            o.IdleTimeout = timeout; // also the router's keep-alive timeout: a pong must come within it
        });
        await using var connector = await RawWebSocketPeer.ConnectAsync(
            new Uri(router.RegisterUri, "/register/?connectorInstanceID=idle-1&componentName=test"),
            [new("CrankerProtocol", "1.0"), new("Route", "r")],
            interval,
            timeout);
        var head = connector.ReceiveAsync(TestTimeouts.Token()); // answers the router's pings meanwhile
        await WaitForIdle(router, "r", 1);

        await connector.Incoming.WhenAsync(c => c.Pings >= Enough && c.Pongs >= Enough).DefaultTimeout();
        Assert.Equal(1, router.V1Pool("r")!.IdleCount);
        Assert.Equal(WebSocketState.Open, connector.Socket.State);
        Assert.False(head.IsCompleted);

        var response = router.Client.GetAsync("/r/hello");
        var (type, data) = await head.DefaultTimeout();
        Assert.Equal(WebSocketMessageType.Text, type);
        var text = Encoding.UTF8.GetString(data);
        Assert.StartsWith("GET /r/hello HTTP/1.1\n", text);
        Assert.EndsWith("\n\n_2", text);

        await connector.Socket.SendAsync("HTTP/1.1 200 OK\ncontent-length:5\n"u8.ToArray(), WebSocketMessageType.Text, true, TestTimeouts.Token()).DefaultTimeout();
        await connector.Socket.SendAsync("hello"u8.ToArray(), WebSocketMessageType.Binary, true, TestTimeouts.Token()).DefaultTimeout();
        await connector.Socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "", TestTimeouts.Token()).DefaultTimeout();
        using var answer = await response.DefaultTimeout();
        Assert.Equal(HttpStatusCode.OK, answer.StatusCode);
        Assert.Equal("hello", await answer.Content.ReadAsStringAsync().DefaultTimeout());
    }

    [Fact]
    public async Task An_idle_socket_that_sends_an_empty_message_is_closed_as_a_protocol_error()
    {
        await using var router = await TestRouter.StartAsync(output);
        await using var connector = await RawWebSocketPeer.ConnectAsync(
            new Uri(router.RegisterUri, "/register/?connectorInstanceID=empty-1&componentName=test"),
            [new("CrankerProtocol", "1.0"), new("Route", "r")],
            Timeout.InfiniteTimeSpan);
        await WaitForIdle(router, "r", 1);

        // A zero-length frame is consumed whole by the zero-byte receive; it still counts as a message (§4.4).
        await connector.Socket.SendAsync(ReadOnlyMemory<byte>.Empty, WebSocketMessageType.Text, true, TestTimeouts.Token()).AsTask().DefaultTimeout();
        var (type, _) = await connector.ReceiveAsync(TestTimeouts.Token()).DefaultTimeout();
        Assert.Equal(WebSocketMessageType.Close, type);
        Assert.Equal(WebSocketCloseStatus.ProtocolError, connector.Socket.CloseStatus);
        await WaitForIdle(router, "r", 0);
    }

    private static async Task WaitForIdle(TestRouter router, string route, int count)
    {
        var deadline = DateTime.UtcNow + TestTimeouts.Default;
        while ((router.V1Pool(route)?.IdleCount ?? 0) != count)
        {
            Assert.True(DateTime.UtcNow < deadline, $"route {route} never had {count} idle sockets");
            await Task.Delay(TimeSpan.FromMilliseconds(10));
        }
    }
}
