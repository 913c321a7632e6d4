using System.Net;
using System.Net.Sockets;
using System.Text;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Putsh.Tests.Common;
using Xunit.Abstractions;

namespace Putsh.Router.Tests.V3;

/// <summary>The router's side of the <c>trailers</c> extension (docs/protocol.md §12.8), byte for byte, against a hand-driven connector.</summary>
public sealed class TrailersWireTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData(true, "websocket, flow-window=262144, trailers")]
    [InlineData(false, "websocket, flow-window=262144")]
    public async Task The_router_agrees_trailers_when_offered_unless_turned_off(bool enabled, string answer)
    {
        await using var router = await TestRouter.StartAsync(output, o => o.Trailers = enabled);
        await using var connector = await FakeV3Connector.ConnectAndWaitAsync(router, "svc", extensions: "websocket, flow-window=262144, trailers");

        Assert.Equal(answer, connector.AnsweredExtensions);
    }

    [Fact]
    public async Task Response_trailers_reach_an_http2_client_after_the_body_and_te_trailers_reaches_the_connector()
    {
        await using var router = await TestRouter.StartAsync(output, clientProtocols: HttpProtocols.Http2);
        await using var connector = await FakeV3Connector.ConnectAndWaitAsync(router, "svc", extensions: "trailers");
        Assert.Equal("trailers", connector.AnsweredExtensions);

        using var client = new HttpClient(new SocketsHttpHandler()) { BaseAddress = router.ClientUri };
        using var request = new HttpRequestMessage(HttpMethod.Get, "/svc/call") { Version = HttpVersion.Version20, VersionPolicy = HttpVersionPolicy.RequestVersionExact };
        request.Headers.TE.ParseAdd("trailers");
        var responseTask = client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);

        var head = await connector.ReceiveFrameAsync(V3Bytes.Header);
        Assert.Contains("\nte:trailers\n", head.Text);
        await connector.SendAsync(V3Bytes.WindowUpdateMessage(1, head.Payload.Length));

        await connector.SendAsync(V3Bytes.HeaderMessage(1, 0x04, "HTTP/1.1 200 OK\ncontent-type:application/grpc\n"));
        await connector.SendAsync(V3Bytes.DataMessage(1, 0x00, "abc"u8));
        // A trailer section in two pieces (END_HEADER|END_STREAM on the last only); content-length is not a trailer.
        await connector.SendAsync(V3Bytes.HeaderMessage(1, 0x00, "grpc-status:0\ncontent-length:99\n"));
        await connector.SendAsync(V3Bytes.Hex("01 05 00 00 00 01 67 72 70 63 2d 6d 65 73 73 61 67 65 3a 66 69 6e 65 0a"));

        using var response = await responseTask.DefaultTimeout();
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("abc", await response.Content.ReadAsStringAsync().DefaultTimeout());
        Assert.Equal(["0"], response.TrailingHeaders.GetValues("grpc-status"));
        Assert.Equal(["fine"], response.TrailingHeaders.GetValues("grpc-message"));
        Assert.False(response.TrailingHeaders.NonValidated.Contains("content-length"));
    }

    [Fact]
    public async Task Response_trailers_are_dropped_for_an_http11_client_and_the_response_still_completes()
    {
        await using var router = await TestRouter.StartAsync(output);
        await using var connector = await FakeV3Connector.ConnectAndWaitAsync(router, "svc", extensions: "trailers");

        var responseTask = router.Client.GetAsync("/svc/call");
        var head = await connector.ReceiveFrameAsync(V3Bytes.Header);
        Assert.DoesNotContain("\nte:", head.Text);
        await connector.SendAsync(V3Bytes.WindowUpdateMessage(1, head.Payload.Length));
        await connector.SendAsync(V3Bytes.HeaderMessage(1, 0x04, "HTTP/1.1 200 OK\n"));
        await connector.SendAsync(V3Bytes.DataMessage(1, 0x00, "abc"u8));
        await connector.SendAsync(V3Bytes.HeaderMessage(1, 0x05, "grpc-status:0\n"));

        using var response = await responseTask.DefaultTimeout();
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("abc", await response.Content.ReadAsStringAsync().DefaultTimeout());
        Assert.Empty(response.TrailingHeaders);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_chunked_request_ends_with_its_trailer_section_only_where_trailers_were_agreed(bool agreed)
    {
        await using var router = await TestRouter.StartAsync(output);
        await using var connector = await FakeV3Connector.ConnectAndWaitAsync(router, "svc", extensions: agreed ? "trailers" : null);

        // HttpClient cannot send request trailers: a raw HTTP/1.1 client sends a chunked body with two.
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(IPAddress.Loopback, router.ClientUri.Port).DefaultTimeout();
        var stream = tcp.GetStream();
        await stream.WriteAsync(Encoding.ASCII.GetBytes(
            "POST /svc/up HTTP/1.1\r\nHost: r\r\nTransfer-Encoding: chunked\r\nTE: trailers\r\n\r\n"
            + "3\r\nabc\r\n0\r\nX-Sum: 42\r\nContent-Type: text/plain\r\n\r\n"), TestTimeouts.Token());

        var head = await connector.ReceiveFrameAsync(V3Bytes.Header);
        Assert.Equal(agreed, head.Text.Contains("\nte:trailers\n", StringComparison.Ordinal));
        await connector.SendAsync(V3Bytes.WindowUpdateMessage(1, head.Payload.Length));
        var data = await connector.ReceiveFrameAsync(V3Bytes.Data);
        Assert.Equal(("abc", (byte)0x00), (data.Text, data.Flags));

        // Then the trailer section (content-type is not a trailer), or the plain end.
        var end = await connector.ReceiveFrameAsync();
        var expected = agreed ? V3Bytes.HeaderMessage(1, 0x05, "x-sum:42\n") : V3Bytes.EndStream(1);
        Assert.Equal(Convert.ToHexString(expected), Convert.ToHexString([.. V3Bytes.Prefix(end.Type, end.Flags, end.Id), .. end.Payload]));

        await connector.SendAsync(V3Bytes.HeaderMessage(1, 0x05, "HTTP/1.1 204 No Content\n"));
        var buffer = new byte[1024];
        var n = await stream.ReadAsync(buffer, TestTimeouts.Token());
        Assert.StartsWith("HTTP/1.1 204", Encoding.ASCII.GetString(buffer, 0, n));
    }
}
