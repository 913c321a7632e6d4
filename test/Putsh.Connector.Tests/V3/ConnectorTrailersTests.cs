using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Putsh.Tests.Common;
using Xunit.Abstractions;
using static Putsh.Connector.Tests.V3.V3TestSupport;

namespace Putsh.Connector.Tests.V3;

/// <summary>
/// The connector's side of the <c>trailers</c> extension (docs/protocol.md §12.8) and of HTTP/2 to the target: a fake
/// router driven message by message, a real Kestrel backend speaking HTTP/2 with prior knowledge.
/// </summary>
public sealed class ConnectorTrailersTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task An_http2_targets_trailers_end_the_response_where_the_router_agreed_them(bool agreed)
    {
        var seen = new TaskCompletionSource<(string Protocol, string Te)>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var backend = await TestBackend.StartAsync(app => app.Run(async context =>
        {
            seen.TrySetResult((context.Request.Protocol, context.Request.Headers.TE.ToString()));
            await context.Response.Body.WriteAsync("abc"u8.ToArray());
            context.Response.AppendTrailer("grpc-status", "0");
            context.Response.AppendTrailer("x-count", "3");
        }), output, protocols: HttpProtocols.Http2);
        await using var router = await FakeRouter.StartAsync(output, FakeRouterProtocols.Both, answerExtensions: agreed ? "trailers" : null);
        var connector = await TestConnector.StartAsync([router.RegisterUri], Route, backend.Uri, output, o => o.TargetProtocol = "http2", sockets: 1);
        await using var disposer = new ConnectorDisposer(connector);
        var peer = await router.NextPeerAsync();
        Assert.EndsWith("trailers", peer.Handshake.Header("Putsh-Extensions"), StringComparison.Ordinal);

        await peer.SendHeaderAsync(1, 0x05, "POST /svc/call HTTP/1.1\nHost:r\nte:trailers\ncontent-length:0\n\n");
        var exchange = await peer.ReadUntilEndedAsync(1);

        var request = await seen.Task.DefaultTimeout();
        Assert.Equal("HTTP/2", request.Protocol);
        Assert.Equal(agreed ? "trailers" : "", request.Te);
        Assert.Equal("abc"u8.ToArray(), exchange.Body);
        var frames = exchange.Messages.Where(m => m.Type != V3Wire.WindowUpdate).ToList();
        var last = frames[^1];
        if (agreed)
        {
            // The body's DATA stays open; the trailer section ends the stream, byte for byte.
            Assert.All(exchange.DataMessages, d => Assert.Equal(0, d.Flags));
            Assert.Equal(V3Wire.ToHex(V3Wire.HeaderMessage(1, 0x05, "grpc-status:0\nx-count:3\n")), V3Wire.ToHex(last.Raw));
        }
        else
        {
            // No trailers: the plain end of §5.4.
            exchange.AssertCompletedNormally();
            Assert.DoesNotContain("grpc-status", exchange.Head, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task A_request_trailer_section_ends_the_request_body()
    {
        var body = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var backend = await TestBackend.StartAsync(app => app.Run(async context =>
        {
            using var reader = new StreamReader(context.Request.Body);
            body.TrySetResult(await reader.ReadToEndAsync());
            context.Response.StatusCode = 204;
        }), output);
        await using var router = await FakeRouter.StartAsync(output, FakeRouterProtocols.Both, answerExtensions: "trailers");
        var connector = await TestConnector.StartAsync([router.RegisterUri], Route, backend.Uri, output, sockets: 1);
        await using var disposer = new ConnectorDisposer(connector);
        var peer = await router.NextPeerAsync();

        await peer.SendHeaderAsync(1, 0x04, "POST /svc/up HTTP/1.1\nHost:r\ntransfer-encoding:chunked\n\n");
        await peer.SendDataAsync(1, 0x00, "abc"u8.ToArray());
        // The body has no END_STREAM of its own: the trailer section, in two pieces, ends it.
        await peer.SendHeaderAsync(1, 0x00, "x-sum:");
        await peer.SendHeaderAsync(1, 0x05, "42\n");

        Assert.Equal("abc", await body.Task.DefaultTimeout());
        var exchange = await peer.ReadUntilEndedAsync(1);
        Assert.StartsWith("HTTP/1.1 204", exchange.Head, StringComparison.Ordinal);
    }

    [Fact]
    public void TargetProtocol_must_be_auto_http1_or_http2()
    {
        var options = new ConnectorOptions { Route = "svc", Target = "http://127.0.0.1:1", TargetProtocol = "h2c" };
        options.Routers.Add("ws://127.0.0.1:2");

        var error = Assert.Throws<ArgumentException>(options.Validate);
        Assert.Equal("TargetProtocol 'h2c' is not one of auto, http1, http2.", error.Message);
    }
}
