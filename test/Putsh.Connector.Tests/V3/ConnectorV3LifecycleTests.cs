using System.Net.WebSockets;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Putsh.Tests.Common;
using Xunit.Abstractions;
using static Putsh.Connector.Tests.V3.V3TestSupport;

namespace Putsh.Connector.Tests.V3;

/// <summary>
/// Stream and socket lifecycle of the connector's cranker_3.0 sockets (§1.7, §1.9, §5.2, §5.5, §5.7, §5.8):
/// resets in both directions, messages to ignore, graceful stop, and the long-lived socket window.
/// </summary>
public sealed class ConnectorV3LifecycleTests(ITestOutputHelper output)
{
    private static int HeadLength(string path) => Encoding.UTF8.GetByteCount($"GET {path} HTTP/1.1\nHost:r\nvia:HTTP/1.1 muc\n\n");

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task RST_from_the_router_cancels_the_target_call_and_nothing_more_is_sent_for_that_id_while_other_streams_go_on(bool backendSentHead)
    {
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var aborted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var otherGate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var backend = await TestBackend.StartAsync(
            app => app.Run(async context =>
            {
                if (context.Request.Path == "/svc/slow")
                {
                    // Not disposed: a disposed registration could be dropped before it ran.
                    context.RequestAborted.Register(() => aborted.TrySetResult());
                    if (backendSentHead)
                    {
                        await context.Response.StartAsync();
                        await context.Response.Body.FlushAsync();
                    }

                    started.TrySetResult();
                    try
                    {
                        await release.Task.WaitAsync(context.RequestAborted);
                        await context.Response.WriteAsync("too late");
                    }
                    catch (OperationCanceledException)
                    {
                    }

                    return;
                }

                await otherGate.Task.WaitAsync(TestTimeouts.Default, context.RequestAborted);
                await context.Response.WriteAsync("other");
            }),
            output);
        await using var router = await FakeRouter.StartAsync(output, FakeRouterProtocols.Both);
        var connector = await TestConnector.StartAsync([router.RegisterUri], Route, backend.Uri, output, sockets: 1);
        await using var disposer = new ConnectorDisposer(connector);
        var peer = await router.NextPeerAsync();

        try
        {
            await peer.SendGetAsync(1, "/svc/slow");
            await peer.SendGetAsync(2, "/svc/other");
            await started.Task.DefaultTimeout();

            // Take everything the connector has legitimately sent so far: both head acks, and the response head of
            // stream 1 if the backend sent it.
            while (!(peer.HasExchange(1) && peer.Exchange(1).Acks.Count == 1
                && peer.HasExchange(2) && peer.Exchange(2).Acks.Count == 1
                && (!backendSentHead || peer.Exchange(1).HeadPieces.Count == 1)))
            {
                await peer.AcknowledgeAsync(await peer.NextAsync());
            }

            var before = peer.Exchange(1).Messages.Count;
            Assert.Equal(backendSentHead ? 2 : 1, before);

            await peer.SendAsync(V3Wire.Hex("03 00 00 00 00 01 00 00 00 01 43 6C 69 65 6E 74 20 65 61 72 6C 79 20 63 6C 6F 73 65 64"));
            await aborted.Task.DefaultTimeout();

            // The other stream on the socket is unaffected, and a new one after the reset works too.
            otherGate.TrySetResult();
            var other = await peer.ReadUntilEndedAsync(2);
            other.AssertCompletedNormally();
            Assert.Equal("other"u8.ToArray(), other.Body);
            await peer.SendGetAsync(3, "/svc/other");
            var third = await peer.ReadUntilEndedAsync(3);
            third.AssertCompletedNormally();

            // Nothing at all for stream 1 after the reset: no DATA, no END_STREAM, no RST echo (§5.5).
            Assert.True(before == peer.Exchange(1).Messages.Count, "stream 1 after the reset: " + string.Join("; ", peer.Exchange(1).Messages));
            Assert.Equal(WebSocketState.Open, peer.State);
            Assert.Equal(1, router.AcceptedCount);
        }
        finally
        {
            release.TrySetResult();
            otherGate.TrySetResult();
        }
    }

    [Fact]
    public async Task RST_while_the_stream_waits_for_window_credit_cancels_the_target_call()
    {
        // A download whose router stopped acknowledging (its client stalled): the connector is paused at the window
        // when the router gives up and resets the stream. The backend must hear of it at once, not keep a call open.
        var aborted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var chunk = new byte[16 * 1024];
        await using var backend = await TestBackend.StartAsync(
            app => app.Run(async context =>
            {
                context.RequestAborted.Register(() => aborted.TrySetResult());
                try
                {
                    // At most 64 MiB: far past any window, and bounded.
                    for (var i = 0; i < 4096 && !context.RequestAborted.IsCancellationRequested; i++)
                    {
                        await context.Response.Body.WriteAsync(chunk, context.RequestAborted);
                    }
                }
                catch (Exception) when (context.RequestAborted.IsCancellationRequested)
                {
                }
            }),
            output);
        await using var router = await FakeRouter.StartAsync(output, FakeRouterProtocols.Both);
        var connector = await TestConnector.StartAsync([router.RegisterUri], Route, backend.Uri, output, sockets: 1);
        await using var disposer = new ConnectorDisposer(connector);
        var peer = await router.NextPeerAsync();

        await peer.SendGetAsync(1, "/svc/endless");
        long received = 0;
        while (received < V3Wire.High - chunk.Length)
        {
            // Acknowledge the head, never the body: the connector stops at the 64 KiB window (§5.6), and is at it or
            // nearly so once this much has come.
            var message = await peer.NextAsync();
            if (message.IsFrame && message.Type == V3Wire.Header)
            {
                await peer.AcknowledgeAsync(message);
            }
            else if (message.IsFrame && message.Type == V3Wire.Data)
            {
                received += message.Payload.Length;
            }
        }

        Assert.False(aborted.Task.IsCompleted);
        await peer.SendRstAsync(1, 1, "client stalled");
        await aborted.Task.DefaultTimeout();
        Assert.Equal(WebSocketState.Open, peer.State);
    }

    [Fact]
    public async Task Target_down_resets_the_stream_with_1011_and_a_message_and_the_socket_serves_the_next_stream()
    {
        var port = ClosedPort();
        await using var router = await FakeRouter.StartAsync(output, FakeRouterProtocols.Both);
        var connector = await TestConnector.StartAsync([router.RegisterUri], Route, new Uri($"http://127.0.0.1:{port}"), output, sockets: 1);
        await using var disposer = new ConnectorDisposer(connector);
        var peer = await router.NextPeerAsync();

        await peer.SendGetAsync(1, "/svc/down");
        var ack = await peer.NextAsync();
        Assert.Equal(V3Wire.WindowUpdateMessage(1, HeadLength("/svc/down")), ack.Raw);
        var rst = await peer.NextAsync();
        Assert.True(rst.Raw.Length > 10, $"the RST has no message: {rst}");
        Assert.Equal("0300000000010000" + "03F3", V3Wire.ToHex(rst.Raw[..10]));
        var message = rst.RstText; // strict UTF-8: throws on invalid bytes
        output.WriteLine("RST message: " + message);
        Assert.False(string.IsNullOrWhiteSpace(message));

        // The target comes back on the same port; the same socket serves the next stream.
        await using var backend = await TestBackend.StartAsync(app => app.Run(context => context.Response.WriteAsync("up")), output, port);
        await peer.SendGetAsync(2, "/svc/up");
        var exchange = await peer.ReadUntilEndedAsync(2);
        exchange.AssertCompletedNormally();
        Assert.Equal("up"u8.ToArray(), exchange.Body);

        Assert.Equal(2, peer.Exchange(1).Messages.Count);
        Assert.Equal(WebSocketState.Open, peer.State);
        Assert.Equal(1, router.AcceptedCount);
    }

    [Fact]
    public async Task Unknown_types_messages_for_unknown_or_finished_ids_and_text_messages_are_ignored()
    {
        await using var backend = await TestBackend.StartAsync(app => app.Run(context => context.Response.WriteAsync("ok")), output);
        await using var router = await FakeRouter.StartAsync(output, FakeRouterProtocols.Both);
        var connector = await TestConnector.StartAsync([router.RegisterUri], Route, backend.Uri, output, sockets: 1);
        await using var disposer = new ConnectorDisposer(connector);
        var peer = await router.NextPeerAsync();

        // Text is ignored in v3 (§5.1), even text that reads like a v1 request head.
        await peer.SendTextAsync("hello");
        await peer.SendTextAsync("GET /svc/ok HTTP/1.1\nHost:r\n\n_2");

        // Unknown types (§5.1) and DATA / WINDOW_UPDATE / RST for ids that were never opened (§5.2, §5.5).
        await peer.SendAsync(V3Wire.Message(0x02, 0x00, 1, "x"u8));
        await peer.SendAsync(V3Wire.Message(0x04, 0x05, 1, []));
        await peer.SendAsync(V3Wire.Message(0x07, 0x00, 1, [1, 2, 3, 4]));
        await peer.SendAsync(V3Wire.Message(0x09, 0x00, 1, [0, 0, 0, 9]));
        await peer.SendAsync(V3Wire.Message(0xFF, 0xFF, 1, "from the future"u8));
        await peer.SendDataAsync(42, 0, RandomBytes(100, 42));
        await peer.SendDataAsync(43, V3Wire.EndStream, []);
        await peer.SendWindowUpdateAsync(42, 1000);
        await peer.SendRstAsync(44, 1, "Client early closed");

        // The next thing the connector sends is the ack of a real request: it answered none of the above.
        await peer.SendGetAsync(1, "/svc/ok");
        Assert.Equal(V3Wire.WindowUpdateMessage(1, HeadLength("/svc/ok")), (await peer.NextAsync()).Raw);
        var first = await peer.ReadUntilEndedAsync(1);
        first.AssertCompletedNormally();
        Assert.Equal("ok"u8.ToArray(), first.Body);
        var firstCount = first.Messages.Count;

        // Stream 1 is finished: messages for it now are for a forgotten id.
        await peer.SendDataAsync(1, 0, "late"u8.ToArray());
        await peer.SendDataAsync(1, V3Wire.EndStream, []);
        await peer.SendWindowUpdateAsync(1, 5);
        await peer.SendRstAsync(1, 1, "Client early closed");
        await peer.SendAsync(V3Wire.Message(0x05, 0x00, 1, []));
        await peer.SendTextAsync("again");

        await peer.SendGetAsync(2, "/svc/ok");
        Assert.Equal(V3Wire.WindowUpdateMessage(2, HeadLength("/svc/ok")), (await peer.NextAsync()).Raw);
        var second = await peer.ReadUntilEndedAsync(2);
        second.AssertCompletedNormally();
        Assert.Equal("ok"u8.ToArray(), second.Body);

        Assert.Equal(firstCount, peer.Exchange(1).Messages.Count);
        Assert.All(peer.Log, m => Assert.True(m.IsFrame && m.Id is 1 or 2, $"unexpected message {m}"));
        Assert.Equal(2, backend.RequestCount);
        Assert.Equal(WebSocketState.Open, peer.State);
        Assert.Equal(1, router.AcceptedCount);
    }

    [Fact]
    public async Task StopAsync_deregisters_keeps_the_busy_socket_until_its_stream_finished_then_closes_it_with_1000()
    {
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var backend = await TestBackend.StartAsync(
            app => app.Run(async context =>
            {
                started.TrySetResult();
                await gate.Task.WaitAsync(TestTimeouts.Default, context.RequestAborted);
                await context.Response.WriteAsync("finished");
            }),
            output);
        await using var router = await FakeRouter.StartAsync(output, FakeRouterProtocols.Both);
        var connector = await TestConnector.StartAsync([router.RegisterUri], Route, backend.Uri, output, sockets: 2);
        await using var disposer = new ConnectorDisposer(connector);
        var peers = await router.NextPeersAsync(2);
        var busy = peers[0];
        var idle = peers[1];

        try
        {
            await busy.SendGetAsync(1, "/svc/slow");
            await started.Task.DefaultTimeout();
            Assert.Equal(V3Wire.WindowUpdate, (await busy.NextAsync()).Type);

            var stopping = connector.StopAsync();

            var deregister = await router.NextSocketAsync();
            Assert.Equal("/deregister/", deregister.Handshake.Path);
            Assert.Equal(connector.InstanceId, deregister.Handshake.Query["connectorInstanceID"]);
            Assert.Equal(Route, deregister.Handshake.Route);

            // The router as mu does it (§1.9 step 3): the idle v3 socket is closed with 1001, the busy one is left
            // open, then the deregistration socket is closed with 1000.
            await idle.CloseOutputAsync(WebSocketCloseStatus.EndpointUnavailable, "Going away");
            await idle.ExpectCloseAsync();
            await deregister.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "Deregister complete");
            Assert.Equal(WebSocketMessageType.Close, (await deregister.ReceiveAsync()).Type);
            deregister.Release();

            // StopAsync cannot be done while the busy socket is open, and it is open until the stream ends.
            Assert.False(stopping.IsCompleted);
            Assert.Equal(WebSocketState.Open, busy.State);

            gate.TrySetResult();
            var exchange = await busy.ReadUntilEndedAsync(1); // fails if the close came first
            exchange.AssertCompletedNormally();
            Assert.Equal("finished"u8.ToArray(), exchange.Body);

            var close = await busy.ExpectCloseAsync();
            Assert.Equal(WebSocketCloseStatus.NormalClosure, close.CloseStatus);
            Assert.Equal(V3Wire.Hex("00 01 00 00 00 01"), busy.Log[^2].Raw); // END_STREAM, then straight to the close

            Assert.True(await stopping.DefaultTimeout());
            Assert.Equal(3, router.AcceptedCount); // no socket dialled during or after the stop
            Assert.False(router.TryTakeSocket(out _));
        }
        finally
        {
            gate.TrySetResult();
        }
    }

    [Fact]
    public async Task StopAsync_closes_an_idle_v3_socket_with_1000_once_deregistered_and_returns_true()
    {
        await using var backend = await TestBackend.StartAsync(app => app.Run(context => context.Response.WriteAsync("ok")), output);
        await using var router = await FakeRouter.StartAsync(output, FakeRouterProtocols.Both);
        var connector = await TestConnector.StartAsync([router.RegisterUri], Route, backend.Uri, output, sockets: 1);
        await using var disposer = new ConnectorDisposer(connector);
        var peer = await router.NextPeerAsync();

        var stopping = connector.StopAsync();
        var deregister = await router.NextSocketAsync();
        Assert.Equal("/deregister/", deregister.Handshake.Path);

        // This router leaves the idle socket alone; the connector closes it itself after the deregistration.
        await deregister.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "Deregister complete");
        Assert.Equal(WebSocketMessageType.Close, (await deregister.ReceiveAsync()).Type);
        deregister.Release();

        var close = await peer.ExpectCloseAsync();
        Assert.Equal(WebSocketCloseStatus.NormalClosure, close.CloseStatus);
        Assert.Single(peer.Log);
        Assert.True(await stopping.DefaultTimeout());
    }

    [Fact]
    public async Task With_two_sockets_the_connector_keeps_the_same_two_v3_connections_across_five_requests()
    {
        await using var backend = await TestBackend.StartAsync(
            app => app.Run(context => context.Response.WriteAsync("n" + context.Request.Path.Value!.Split('/')[^1])),
            output);
        await using var router = await FakeRouter.StartAsync(output, FakeRouterProtocols.Both);
        var connector = await TestConnector.StartAsync([router.RegisterUri], Route, backend.Uri, output, sockets: 2);
        await using var disposer = new ConnectorDisposer(connector);
        var peers = await router.NextPeersAsync(2);
        var (a, b) = (peers[0], peers[1]);

        // Two at once on the first socket, then a third after they finished; one after another on the second.
        await a.SendGetAsync(1, "/svc/n/1");
        await a.SendGetAsync(2, "/svc/n/2");
        await a.ReadUntilEndedAsync([1, 2]);
        await a.SendGetAsync(3, "/svc/n/3");
        await a.ReadUntilEndedAsync(3);
        await b.SendGetAsync(1, "/svc/n/4");
        await b.ReadUntilEndedAsync(1);
        await b.SendGetAsync(2, "/svc/n/5");
        await b.ReadUntilEndedAsync(2);

        foreach (var (peer, id, n) in new[] { (a, 1, 1), (a, 2, 2), (a, 3, 3), (b, 1, 4), (b, 2, 5) })
        {
            peer.Exchange(id).AssertCompletedNormally();
            Assert.Equal(Encoding.UTF8.GetBytes("n" + n), peer.Exchange(id).Body);
        }

        Assert.Equal(5, backend.RequestCount);
        Assert.Equal(WebSocketState.Open, a.State);
        Assert.Equal(WebSocketState.Open, b.State);
        Assert.Equal(2, router.AcceptedCount);
        var status = Assert.Single(connector.Routers);
        Assert.Equal("cranker_3.0", status.Protocol);
        Assert.Equal(2, status.IdleSockets);

        // A barrier instead of a sleep: StopAsync waits for dials in progress before it deregisters, so a replacement
        // dialled for a "used up" socket would have shaken hands before the deregistration does.
        var stopping = connector.StopAsync();
        var next = await router.NextSocketAsync();
        Assert.Equal("/deregister/", next.Handshake.Path);
        Assert.Equal(3, router.AcceptedCount);

        foreach (var peer in peers)
        {
            await peer.CloseOutputAsync(WebSocketCloseStatus.EndpointUnavailable, "Going away");
            await peer.ExpectCloseAsync();
        }

        await next.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "Deregister complete");
        Assert.Equal(WebSocketMessageType.Close, (await next.ReceiveAsync()).Type);
        next.Release();
        Assert.True(await stopping.DefaultTimeout());
    }
}
