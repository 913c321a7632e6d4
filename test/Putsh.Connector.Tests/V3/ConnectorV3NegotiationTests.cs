using System.Net.WebSockets;
using Microsoft.AspNetCore.Builder;
using Putsh.Tests.Common;
using Xunit.Abstractions;
using static Putsh.Connector.Tests.V3.V3TestSupport;

namespace Putsh.Connector.Tests.V3;

/// <summary>The connector's side of protocol negotiation (§1.2, §1.3, §1.4) against a router that may or may not speak 3.0.</summary>
public sealed class ConnectorV3NegotiationTests(ITestOutputHelper output)
{
    private static Task<TestBackend> StartHiBackendAsync(ITestOutputHelper output) =>
        TestBackend.StartAsync(
            app => app.Run(async context =>
            {
                context.Response.ContentLength = 2;
                await context.Response.Body.WriteAsync("hi"u8.ToArray());
            }),
            output);

    /// <summary>The tokens of every <c>Sec-WebSocket-Protocol</c> line the connector sent, in its order.</summary>
    private static List<string> OfferedTokens(Handshake handshake) =>
        [.. handshake.Headers["Sec-WebSocket-Protocol"].SelectMany(v => v.Split(',')).Select(t => t.Trim())];

    [Fact]
    public async Task By_default_the_connector_offers_cranker_3_0_then_cranker_1_0_and_speaks_v3_when_the_router_picks_it()
    {
        await using var backend = await StartHiBackendAsync(output);
        await using var router = await FakeRouter.StartAsync(output, FakeRouterProtocols.Both);
        var connector = await TestConnector.StartAsync([router.RegisterUri], Route, backend.Uri, output, sockets: 1);
        await using var disposer = new ConnectorDisposer(connector);

        var socket = await router.NextSocketAsync();
        var h = socket.Handshake;
        Assert.Equal("/register/", h.Path);
        Assert.Equal(["cranker_3.0", "cranker_1.0"], OfferedTokens(h));
        Assert.Equal(["cranker_3.0", "cranker_1.0"], h.RequestedSubProtocols);
        Assert.Equal("1.0", h.CrankerProtocol); // always sent, for old routers (§1.2)
        Assert.Equal(Route, h.Route);
        Assert.Equal("cranker_3.0", h.AcceptedSubProtocol);
        Assert.Equal("cranker_3.0", Assert.Single(connector.Routers).Protocol);

        // And it really speaks cranker_3.0 on that socket.
        var peer = new V3Peer(socket);
        await peer.SendGetAsync(1, "/svc/hi");
        var exchange = await peer.ReadUntilEndedAsync(1);
        exchange.AssertCompletedNormally();
        V3Wire.AssertResponseHead(exchange.Head, 200);
        Assert.Equal("hi"u8.ToArray(), exchange.Body);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_router_that_picks_cranker_1_0_or_returns_no_subprotocol_gets_cranker_1_0(bool routerEchoesSubProtocol)
    {
        await using var backend = await StartHiBackendAsync(output);
        await using var router = await FakeRouter.StartAsync(
            output, routerEchoesSubProtocol ? FakeRouterProtocols.V1Only : FakeRouterProtocols.V1WithoutSubProtocol);
        var connector = await TestConnector.StartAsync([router.RegisterUri], Route, backend.Uri, output, sockets: 1);
        await using var disposer = new ConnectorDisposer(connector);

        var socket = await router.NextSocketAsync();
        Assert.Equal(["cranker_3.0", "cranker_1.0"], OfferedTokens(socket.Handshake));
        Assert.Equal(routerEchoesSubProtocol ? "cranker_1.0" : null, socket.Handshake.AcceptedSubProtocol);
        Assert.Equal("cranker_1.0", Assert.Single(connector.Routers).Protocol);

        // §1.4: anything but cranker_3.0 means cranker_1.0, so a v1 text head gets a v1 answer.
        await socket.SendTextAsync("GET /svc/hi HTTP/1.1\nHost:r\nvia:HTTP/1.1 muc\n\n_2");
        var reply = await socket.ReadReplyAsync();
        Assert.Equal(WebSocketMessageType.Text, reply.Messages[0].Type);
        var lines = V3Wire.AssertResponseHead(Assert.Single(reply.Texts), 200);
        Assert.Contains("content-length:2", lines);
        Assert.Equal("hi"u8.ToArray(), reply.Body);
        Assert.Equal(WebSocketMessageType.Close, reply.Close.Type);
        Assert.Equal(WebSocketCloseStatus.NormalClosure, reply.Close.CloseStatus);
        Assert.Equal(1, backend.RequestCount);
    }

    [Fact]
    public async Task With_protocols_cranker_1_0_only_the_connector_offers_only_cranker_1_0_even_to_a_3_0_router()
    {
        await using var backend = await StartHiBackendAsync(output);
        await using var router = await FakeRouter.StartAsync(output, FakeRouterProtocols.Both);
        var connector = await TestConnector.StartAsync([router.RegisterUri], Route, backend.Uri, output, TestConnector.V1Only, sockets: 1);
        await using var disposer = new ConnectorDisposer(connector);

        var socket = await router.NextSocketAsync();
        Assert.Equal(["cranker_1.0"], OfferedTokens(socket.Handshake));
        Assert.Equal(["cranker_1.0"], socket.Handshake.RequestedSubProtocols);
        Assert.Equal("1.0", socket.Handshake.CrankerProtocol);
        Assert.Equal("cranker_1.0", socket.Handshake.AcceptedSubProtocol);
        Assert.Equal("cranker_1.0", Assert.Single(connector.Routers).Protocol);

        await socket.SendTextAsync("GET /svc/hi HTTP/1.1\nHost:r\n\n_2");
        var reply = await socket.ReadReplyAsync();
        V3Wire.AssertResponseHead(Assert.Single(reply.Texts), 200);
        Assert.Equal("hi"u8.ToArray(), reply.Body);
        Assert.Equal(WebSocketCloseStatus.NormalClosure, reply.Close.CloseStatus);
    }

    [Fact]
    public async Task With_protocols_cranker_3_0_only_the_connector_offers_only_cranker_3_0()
    {
        await using var backend = await StartHiBackendAsync(output);
        await using var router = await FakeRouter.StartAsync(output, FakeRouterProtocols.Both);
        var connector = await TestConnector.StartAsync([router.RegisterUri], Route, backend.Uri, output, TestConnector.V3Only, sockets: 1);
        await using var disposer = new ConnectorDisposer(connector);

        var peer = await router.NextPeerAsync();
        Assert.Equal(["cranker_3.0"], OfferedTokens(peer.Handshake));
        Assert.Equal("cranker_3.0", Assert.Single(connector.Routers).Protocol);
    }
}
