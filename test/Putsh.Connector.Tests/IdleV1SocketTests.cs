using System.Net.WebSockets;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Putsh.Connector.Tests.V3;
using Putsh.Tests.Common;
using Xunit.Abstractions;

namespace Putsh.Connector.Tests;

/// <summary>
/// An idle cranker_1.0 connector socket waits for its request head with a zero-byte receive and holds no buffer
/// meanwhile. The keep-alive still works both ways through that wait, and the socket then serves its request.
/// </summary>
public sealed class IdleV1SocketTests(ITestOutputHelper output)
{
    [Fact]
    public async Task An_idle_socket_keeps_alive_both_ways_for_longer_than_the_silence_timeout_and_then_serves_its_request()
    {
        var interval = TimeSpan.FromMilliseconds(100);
        var timeout = TimeSpan.FromSeconds(1);
        const int Enough = 20; // the connector's pings are at least an interval apart: twenty span twice its timeout
        await using var backend = await TestBackend.StartAsync(app => app.Run(context => context.Response.WriteAsync("hello")), output);
        using var router = new RawWebSocketPeer.Listener();
        var connector = await TestConnector.StartAsync(
            [router.Uri],
            "my-app",
            backend.Uri,
            output,
            o =>
            {
                TestConnector.V1Only(o);
                o.PingInterval = interval;
                o.SilenceTimeout = timeout; // the connector's keep-alive timeout: a pong must come within it
            },
            sockets: 1,
            waitForSockets: false);
        await using var connectorTeardown = new ConnectorDisposer(connector);
        await using var socket = await router.AcceptAsync("cranker_1.0", [new("CrankerProtocol", "1.0")], interval, timeout);
        Assert.StartsWith("GET /register/", socket.RequestHead);
        var reply = socket.ReceiveAsync(TestTimeouts.Token()); // answers the connector's pings meanwhile

        await socket.Incoming.WhenAsync(c => c.Pings >= Enough && c.Pongs >= Enough).DefaultTimeout();
        Assert.Equal(WebSocketState.Open, socket.Socket.State);
        Assert.Equal(1, connector.Routers[0].IdleSockets);
        Assert.Equal(0, socket.Incoming.DataFrames);

        await socket.Socket.SendAsync("GET /my-app/hello HTTP/1.1\nHost:router\n\n_2"u8.ToArray(), WebSocketMessageType.Text, true, TestTimeouts.Token()).DefaultTimeout();
        var (type, head) = await reply.DefaultTimeout();
        Assert.Equal(WebSocketMessageType.Text, type);
        Assert.StartsWith("HTTP/1.1 200 ", Encoding.UTF8.GetString(head));
        var body = new List<byte>();
        while (true)
        {
            var (next, data) = await socket.ReceiveAsync(TestTimeouts.Token()).DefaultTimeout();
            if (next == WebSocketMessageType.Close)
            {
                break;
            }

            Assert.Equal(WebSocketMessageType.Binary, next);
            body.AddRange(data);
        }

        Assert.Equal("hello", Encoding.UTF8.GetString([.. body]));
        Assert.Equal(WebSocketCloseStatus.NormalClosure, socket.Socket.CloseStatus);
    }
}
