using System.Net;
using System.Net.WebSockets;
using System.Text;
using Putsh.Router.Tests.V1;
using Putsh.Router.Tests.V3;
using Putsh.Tests.Common;
using Xunit.Abstractions;

namespace Putsh.Router.Tests.Proxy;

/// <summary>
/// A connector that breaks the protocol in a response: the client gets a 502 if nothing has gone out to it yet (or an
/// aborted response if it has), the stream is reset (cranker_3.0) or the socket closed (cranker_1.0), and the router
/// carries on: the same cranker_3.0 socket serves the next request.
/// </summary>
public sealed class ConnectorProtocolErrorTests(ITestOutputHelper output)
{
    /// <summary>After the broken stream, the socket still carries a normal request.</summary>
    private static async Task ServesNextRequestAsync(TestRouter router, FakeV3Connector connector)
    {
        var call = router.Client.GetAsync("/svc/next");
        var head = await connector.ReceiveFrameAsync(V3Bytes.Header);
        Assert.StartsWith("GET /svc/next ", head.Text, StringComparison.Ordinal);
        await connector.SendAsync(V3Bytes.HeaderMessage(head.Id, 0x04, "HTTP/1.1 200 OK\ncontent-length:4\n"));
        await connector.SendAsync(V3Bytes.DataMessage(head.Id, 0x01, "next"u8));
        using var response = await call.DefaultTimeout();
        Assert.Equal("next", await response.Content.ReadAsStringAsync().DefaultTimeout());
    }

    [Theory]
    [InlineData("DATA before HEADER")]
    [InlineData("103 as the final status")]
    [InlineData("101 without a WebSocket")]
    [InlineData("HEADER pieces past the limit")]
    public async Task V3_before_anything_went_out_the_client_gets_502_the_stream_is_reset_and_the_socket_carries_on(string what)
    {
        await using var router = await TestRouter.StartAsync(output, o => o.MaxResponseHeadSize = 4096);
        await using var connector = await FakeV3Connector.ConnectAndWaitAsync(router, "svc");
        var call = router.Client.GetAsync("/svc/x");
        var head = await connector.ReceiveFrameAsync(V3Bytes.Header);

        switch (what)
        {
            case "DATA before HEADER":
                await connector.SendAsync(V3Bytes.DataMessage(head.Id, 0x00, "surprise"u8));
                await connector.SendAsync(V3Bytes.HeaderMessage(head.Id, 0x04, "HTTP/1.1 200 OK\n"));
                break;
            case "103 as the final status":
                await connector.SendAsync(V3Bytes.HeaderMessage(head.Id, 0x05, "HTTP/1.1 103 Early Hints\nlink:</a.css>\n"));
                break;
            case "101 without a WebSocket":
                await connector.SendAsync(V3Bytes.HeaderMessage(head.Id, 0x04, "HTTP/1.1 101 Switching Protocols\nupgrade:evil\nconnection:upgrade\n"));
                await connector.SendAsync(V3Bytes.DataMessage(head.Id, 0x00, "raw bytes"u8));
                break;
            default:
                // 2,000-character pieces that never say END_HEADER: the third passes the 4,096 limit.
                var piece = "x-pad:" + new string('p', 1993) + "\n";
                for (var i = 0; i < 3; i++)
                {
                    await connector.SendAsync(V3Bytes.HeaderMessage(head.Id, 0x00, i == 0 ? "HTTP/1.1 200 OK\n" + piece : piece));
                }

                break;
        }

        using var response = await call.DefaultTimeout();
        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
        var reset = await connector.ReceiveFrameAsync(V3Bytes.Rst);
        Assert.Equal(head.Id, reset.Id);
        await ServesNextRequestAsync(router, connector);
    }

    [Theory]
    [InlineData("longer")]
    [InlineData("shorter")]
    public async Task V3_a_body_that_does_not_match_its_content_length_aborts_the_client_and_resets_the_stream(string how)
    {
        await using var router = await TestRouter.StartAsync(output);
        await using var connector = await FakeV3Connector.ConnectAndWaitAsync(router, "svc");
        var call = router.Client.GetAsync("/svc/x", HttpCompletionOption.ResponseHeadersRead);
        var head = await connector.ReceiveFrameAsync(V3Bytes.Header);

        // Kestrel holds back the head of a response with a content-length until body bytes come, so both go first.
        await connector.SendAsync(V3Bytes.HeaderMessage(head.Id, 0x04, "HTTP/1.1 200 OK\ncontent-length:5\n"));
        await connector.SendAsync(V3Bytes.DataMessage(head.Id, 0x00, "hel"u8));
        using var response = await call.DefaultTimeout();
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        await connector.SendAsync(V3Bytes.DataMessage(head.Id, 0x01, how == "longer" ? "lo, world"u8 : ""u8));

        await Assert.ThrowsAnyAsync<Exception>(() => response.Content.ReadAsByteArrayAsync()).DefaultTimeout();
        Assert.Equal(head.Id, (await connector.ReceiveFrameAsync(V3Bytes.Rst)).Id);
        await ServesNextRequestAsync(router, connector);
    }

    [Theory]
    [InlineData("body before head")]
    [InlineData("1xx status")]
    [InlineData("head past the limit")]
    public async Task V1_before_anything_went_out_the_client_gets_502_and_the_socket_is_closed_with_1002(string what)
    {
        await using var router = await TestRouter.StartAsync(output, o => o.MaxResponseHeadSize = 4096);
        await using var connector = await FakeConnector.ConnectAsync(router.RegisterUri, "svc");
        await FakeV3Connector.WaitUntilAsync(() => router.V1Pool("svc")?.IdleCount == 1, "v1 socket idle");
        var call = router.Client.GetAsync("/svc/x");
        await connector.ReceiveTextAsync();

        switch (what)
        {
            case "body before head":
                await connector.SendBinaryAsync("surprise"u8.ToArray());
                break;
            case "1xx status":
                await connector.SendTextAsync("HTTP/1.1 101 Switching Protocols\nupgrade:evil\n");
                break;
            default:
                await connector.SendTextAsync("HTTP/1.1 200 OK\nx-pad:" + new string('p', 5000) + "\n");
                break;
        }

        var (type, _) = await connector.ReceiveAsync();
        Assert.Equal(WebSocketMessageType.Close, type);
        Assert.True(connector.Socket.CloseStatus is WebSocketCloseStatus.ProtocolError or WebSocketCloseStatus.MessageTooBig, $"closed with {connector.Socket.CloseStatus}");
        await connector.Socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "", TestTimeouts.Token()).DefaultTimeout();
        using var response = await call.DefaultTimeout();
        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
    }

    [Fact]
    public async Task V1_a_body_longer_than_its_content_length_aborts_the_client()
    {
        await using var router = await TestRouter.StartAsync(output);
        await using var connector = await FakeConnector.ConnectAsync(router.RegisterUri, "svc");
        await FakeV3Connector.WaitUntilAsync(() => router.V1Pool("svc")?.IdleCount == 1, "v1 socket idle");
        var call = router.Client.GetAsync("/svc/x", HttpCompletionOption.ResponseHeadersRead);
        await connector.ReceiveTextAsync();
        await connector.SendTextAsync("HTTP/1.1 200 OK\ncontent-length:5\n");
        await connector.SendBinaryAsync(Encoding.ASCII.GetBytes("hel"));
        using var response = await call.DefaultTimeout();
        await connector.SendBinaryAsync(Encoding.ASCII.GetBytes("lo, world"));

        var (type, _) = await connector.ReceiveAsync();
        Assert.Equal(WebSocketMessageType.Close, type);
        Assert.Equal(WebSocketCloseStatus.ProtocolError, connector.Socket.CloseStatus);
        await connector.Socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "", TestTimeouts.Token()).DefaultTimeout();
        await Assert.ThrowsAnyAsync<Exception>(() => response.Content.ReadAsByteArrayAsync()).DefaultTimeout();
    }
}
