using System.Net.WebSockets;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Putsh.Tests.Common;
using Xunit.Abstractions;
using static Putsh.Connector.Tests.V3.V3TestSupport;

namespace Putsh.Connector.Tests.V3;

/// <summary>
/// cranker_3.0 exchanges from the connector's side (§5.1–§5.6, §5.9): framing to the byte, head pieces, request and
/// response bodies with their WINDOW_UPDATEs, and several streams on one socket. The fake router is driven message by
/// message; the backend is a real Kestrel server.
/// </summary>
public sealed class ConnectorV3ExchangeTests(ITestOutputHelper output)
{
    /// <summary>The §5.9 request HEADER exactly as printed in docs/protocol.md.</summary>
    private const string GoldenHeaderHex =
        "01 05 00 00 00 01 47 45 54 20 2F 73 76 63 2F 68 69 20 48 54 54 50 2F 31 2E 31 0A 48 6F 73 74 3A 72 0A"
        + "76 69 61 3A 48 54 54 50 2F 31 2E 31 20 6D 75 63 0A 0A";

    [Fact]
    public async Task Golden_5_9_exchange_is_byte_exact_from_the_connector_side()
    {
        var seen = new TaskCompletionSource<(string Method, string Target, string Host, string Via, long? Length)>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var backend = await TestBackend.StartAsync(
            app => app.Run(async context =>
            {
                seen.TrySetResult((
                    context.Request.Method,
                    context.Features.Get<IHttpRequestFeature>()!.RawTarget,
                    context.Request.Headers.Host.ToString(),
                    context.Request.Headers.Via.ToString(),
                    context.Request.ContentLength));
                context.Response.StatusCode = 200;
                context.Response.ContentLength = 2;
                await context.Response.Body.WriteAsync("hi"u8.ToArray());
            }),
            output);
        await using var router = await FakeRouter.StartAsync(output, FakeRouterProtocols.Both);
        var connector = await TestConnector.StartAsync([router.RegisterUri], Route, backend.Uri, output, sockets: 1);
        await using var disposer = new ConnectorDisposer(connector);
        var peer = await router.NextPeerAsync();

        var header = V3Wire.Hex(GoldenHeaderHex);
        Assert.Equal(V3Wire.HeaderMessage(1, 0x05, "GET /svc/hi HTTP/1.1\nHost:r\nvia:HTTP/1.1 muc\n\n"), header);
        await peer.SendAsync(header);

        // The head is acknowledged on receipt, before anything else (§5.3, §5.6).
        var ack = await peer.NextAsync();
        Assert.Equal("0800000000010000002E", V3Wire.ToHex(ack.Raw));

        var head = await peer.NextAsync();
        Assert.Equal("010400000001", V3Wire.ToHex(head.Raw[..6]));
        var text = V3Wire.StrictUtf8.GetString(head.Payload);
        output.WriteLine("response head: " + text.Replace("\n", "\\n", StringComparison.Ordinal));
        var lines = V3Wire.AssertResponseHead(text, 200);
        Assert.Contains("content-length:2", lines);
        await peer.SendWindowUpdateAsync(1, head.Payload.Length);

        // Where jconn sends "hi" and then an empty DATA with END_STREAM, putsh puts END_STREAM on "hi" itself: the
        // target said content-length:2, so these are the last bytes. Routers must accept that (§5.4).
        var data = await peer.NextAsync();
        Assert.Equal("0001000000016869", V3Wire.ToHex(data.Raw));

        var request = await seen.Task.DefaultTimeout();
        Assert.Equal("GET", request.Method);
        Assert.Equal("/svc/hi", request.Target);
        Assert.Equal("r", request.Host);
        Assert.Equal("HTTP/1.1 muc", request.Via);
        Assert.Null(request.Length);

        // The socket is long-lived: still open after the stream (§5.8).
        Assert.Equal(WebSocketState.Open, peer.State);
    }

    [Fact]
    public async Task A_head_past_MaxRequestHeadSize_or_one_that_does_not_parse_resets_its_stream_without_reaching_the_target()
    {
        var calls = 0;
        await using var backend = await TestBackend.StartAsync(
            app => app.Run(context =>
            {
                Interlocked.Increment(ref calls);
                return context.Response.WriteAsync("ok");
            }),
            output);
        await using var router = await FakeRouter.StartAsync(output, FakeRouterProtocols.Both);
        var connector = await TestConnector.StartAsync([router.RegisterUri], Route, backend.Uri, output, o => o.MaxRequestHeadSize = 4096, sockets: 1);
        await using var disposer = new ConnectorDisposer(connector);
        var peer = await router.NextPeerAsync();

        // Two pieces of 3,000 characters: the second would take the head past 4,096.
        await peer.SendHeaderAsync(1, 0x00, "GET /svc/a HTTP/1.1\nx-long:" + Letters(3000));
        Assert.Equal(V3Wire.WindowUpdate, (await peer.NextAsync()).Type);
        await peer.SendHeaderAsync(1, 0x04 | 0x01, Letters(3000) + "\n\n");
        Assert.Equal(V3Wire.WindowUpdate, (await peer.NextAsync()).Type);
        var reset = await peer.NextAsync();
        Assert.Equal((V3Wire.RstStream, 1, 1011), (reset.Type, reset.Id, reset.RstCode));
        Assert.Contains("MaxRequestHeadSize", reset.RstText, StringComparison.Ordinal);

        // A request line that is not one.
        await peer.SendHeaderAsync(3, 0x04 | 0x01, "NONSENSE\n\n");
        Assert.Equal(V3Wire.WindowUpdate, (await peer.NextAsync()).Type);
        reset = await peer.NextAsync();
        Assert.Equal((V3Wire.RstStream, 3, 1011), (reset.Type, reset.Id, reset.RstCode));
        Assert.StartsWith("bad request head", reset.RstText, StringComparison.Ordinal);

        // Neither reached the target, and the socket goes on serving.
        await peer.SendGetAsync(5, "/svc/b");
        await peer.ReadUntilEndedAsync(5);
        Assert.Equal(1, Volatile.Read(ref calls));
        Assert.Equal(WebSocketState.Open, peer.State);
    }

    [Theory]
    [InlineData("strays", 1002)]
    [InlineData("too big", 1009)]
    public async Task The_connectors_session_limits_close_a_socket_whose_router_passes_them(string what, int code)
    {
        await using var backend = await TestBackend.StartAsync(app => app.Run(context => context.Response.WriteAsync("ok")), output);
        await using var router = await FakeRouter.StartAsync(output, FakeRouterProtocols.Both);
        var connector = await TestConnector.StartAsync([router.RegisterUri], Route, backend.Uri, output, o =>
        {
            o.MaxStrayMessages = 2;
            o.MaxRouterMessageSize = 70_000;
        }, sockets: 1);
        await using var disposer = new ConnectorDisposer(connector);
        var peer = await router.NextPeerAsync();

        if (what == "strays")
        {
            for (var i = 0; i < 3; i++)
            {
                await peer.SendDataAsync(101 + (2 * i), 0x00, [1, 2, 3]);
            }
        }
        else
        {
            await peer.SendDataAsync(1, 0x00, new byte[80_000]);
        }

        var close = await peer.ExpectCloseAsync();
        Assert.Equal((WebSocketCloseStatus)code, close.CloseStatus);
    }

    [Fact]
    public async Task A_response_of_unknown_length_ends_with_an_empty_DATA_carrying_END_STREAM()
    {
        await using var backend = await TestBackend.StartAsync(
            app => app.Run(async context =>
            {
                // No content-length: the body goes chunked, and its end is known only when the target ends it.
                await context.Response.Body.WriteAsync("chunk"u8.ToArray());
                await context.Response.Body.FlushAsync();
            }),
            output);
        await using var router = await FakeRouter.StartAsync(output, FakeRouterProtocols.Both);
        var connector = await TestConnector.StartAsync([router.RegisterUri], Route, backend.Uri, output, sockets: 1);
        await using var disposer = new ConnectorDisposer(connector);
        var peer = await router.NextPeerAsync();

        await peer.SendAsync(V3Wire.HeaderMessage(1, 0x05, "GET /svc/chunks HTTP/1.1\nHost:r\n\n"));
        Assert.Equal(V3Wire.WindowUpdate, (await peer.NextAsync()).Type);
        var head = await peer.NextAsync();
        Assert.Equal("010400000001", V3Wire.ToHex(head.Raw[..6]));
        Assert.DoesNotContain("content-length", V3Wire.StrictUtf8.GetString(head.Payload), StringComparison.OrdinalIgnoreCase);
        await peer.SendWindowUpdateAsync(1, head.Payload.Length);

        var data = await peer.NextAsync();
        Assert.Equal("000000000001" + V3Wire.ToHex("chunk"u8.ToArray()), V3Wire.ToHex(data.Raw));
        await peer.SendWindowUpdateAsync(1, 5);
        var end = await peer.NextAsync();
        Assert.Equal("000100000001", V3Wire.ToHex(end.Raw));
    }

    [Fact]
    public async Task Three_streams_run_concurrently_on_one_socket_and_all_complete_byte_exact()
    {
        // Every handler waits until all three requests are in the backend at once, so they cannot be served in turn.
        var arrived = 0;
        var allArrived = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var backend = await TestBackend.StartAsync(
            app => app.Run(async context =>
            {
                if (Interlocked.Increment(ref arrived) == 3)
                {
                    allArrived.TrySetResult();
                }

                await allArrived.Task.WaitAsync(TestTimeouts.Default, context.RequestAborted);
                var n = int.Parse(context.Request.Path.Value!.Split('/')[^1], System.Globalization.CultureInfo.InvariantCulture);
                var body = StreamBody(n);
                context.Response.ContentLength = body.Length;
                await context.Response.Body.WriteAsync(body.AsMemory(0, body.Length / 2));
                await context.Response.Body.FlushAsync();
                await context.Response.Body.WriteAsync(body.AsMemory(body.Length / 2));
            }),
            output);
        await using var router = await FakeRouter.StartAsync(output, FakeRouterProtocols.Both);
        var connector = await TestConnector.StartAsync([router.RegisterUri], Route, backend.Uri, output, sockets: 1);
        await using var disposer = new ConnectorDisposer(connector);
        var peer = await router.NextPeerAsync();

        foreach (var id in new[] { 1, 2, 3 })
        {
            await peer.SendGetAsync(id, $"/svc/multi/{id}");
        }

        await peer.ReadUntilEndedAsync([1, 2, 3]);
        foreach (var id in new[] { 1, 2, 3 })
        {
            var exchange = peer.Exchange(id);
            exchange.AssertCompletedNormally();
            Assert.Equal(Encoding.UTF8.GetByteCount($"GET /svc/multi/{id} HTTP/1.1\nHost:r\nvia:HTTP/1.1 muc\n\n"), exchange.Acks[0]);
            Assert.Single(exchange.Acks);
            Assert.Contains($"content-length:{StreamBody(id).Length}", V3Wire.AssertResponseHead(exchange.Head, 200));
            AssertSameBytes(StreamBody(id), exchange.Body);
        }

        Assert.Equal(3, backend.RequestCount);
        Assert.Equal(WebSocketState.Open, peer.State);
        Assert.Equal(1, router.AcceptedCount);
    }

    private static byte[] StreamBody(int n) => [.. Enumerable.Repeat((byte)('0' + n), 40_000 + n)];

    /// <summary>A backend that answers every request with <paramref name="payload"/>, its length declared.</summary>
    private Task<TestBackend> PayloadBackendAsync(byte[] payload) =>
        TestBackend.StartAsync(
            app => app.Run(async context =>
            {
                context.Response.ContentLength = payload.Length;
                await context.Response.Body.WriteAsync(payload);
            }),
            output);

    [Fact]
    public async Task A_request_body_reaches_the_backend_byte_exact_and_every_DATA_chunk_is_acknowledged_with_its_length()
    {
        // Sizes that cross the watermarks: the fake router obeys flow control (§5.6) like mu, so without the
        // connector's acknowledgements it stalls after 64 KiB and the test times out.
        int[] sizes = [1, 7000, 16384, V3Wire.MaxDataPayload, 33, 40000, 12345, 30000, 1];
        var body = RandomBytes(sizes.Sum(), 5);
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var seen = new TaskCompletionSource<(long? Length, byte[] Body)>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var backend = await TestBackend.StartAsync(
            app => app.Run(async context =>
            {
                // A slow reader: nothing is read until the test opens the gate.
                await gate.Task.WaitAsync(TestTimeouts.Default, context.RequestAborted);
                using var received = new MemoryStream();
                await context.Request.Body.CopyToAsync(received, context.RequestAborted);
                seen.TrySetResult((context.Request.ContentLength, received.ToArray()));
                await context.Response.WriteAsync($"got {received.Length}");
            }),
            output);
        await using var router = await FakeRouter.StartAsync(output, FakeRouterProtocols.Both);
        var connector = await TestConnector.StartAsync([router.RegisterUri], Route, backend.Uri, output, sockets: 1);
        await using var disposer = new ConnectorDisposer(connector);
        var peer = await router.NextPeerAsync();

        try
        {
            var head = $"POST /svc/upload HTTP/1.1\nHost:r\nContent-Length:{body.Length}\nContent-Type:application/octet-stream\nvia:HTTP/1.1 muc\n\n";
            var headBytes = Encoding.UTF8.GetByteCount(head);
            await peer.SendHeaderAsync(1, V3Wire.EndHeader, head);
            long unacked = headBytes;
            var offset = 0;
            foreach (var size in sizes)
            {
                await peer.SendDataAsync(1, 0, body[offset..(offset + size)]);
                offset += size;
                unacked += size;
                if (unacked > V3Wire.High)
                {
                    // Not writable: wait for WINDOW_UPDATEs until below the low watermark (§5.6).
                    while (unacked >= V3Wire.Low)
                    {
                        var message = await peer.NextAsync();
                        Assert.True(message.IsFrame && message.Type == V3Wire.WindowUpdate && message.Id == 1, $"expected a WINDOW_UPDATE for stream 1, got {message}");
                        unacked -= message.Consumed;
                    }
                }
            }

            await peer.SendDataAsync(1, V3Wire.EndStream, []);
            gate.TrySetResult();

            var request = await seen.Task.DefaultTimeout();
            Assert.Equal(body.Length, request.Length);
            AssertSameBytes(body, request.Body);

            var exchange = await peer.ReadUntilEndedAsync(1);
            exchange.AssertCompletedNormally();
            V3Wire.AssertResponseHead(exchange.Head, 200);
            Assert.Equal(Encoding.UTF8.GetBytes($"got {body.Length}"), exchange.Body);

            // First the head, then one acknowledgement per chunk with that chunk's length, in order (an extra 0 for
            // the empty END_STREAM DATA, as jconn sends, is tolerated).
            var acks = exchange.Acks;
            output.WriteLine("acks: " + string.Join(", ", acks));
            Assert.Equal(headBytes, acks[0]);
            Assert.Equal(sizes, acks.Skip(1).Where(a => a != 0));
            Assert.Equal(body.Length, acks.Skip(1).Sum());
        }
        finally
        {
            gate.TrySetResult();
        }
    }

    [Fact]
    public async Task A_response_body_stops_at_the_high_watermark_without_acknowledgements_and_resumes_after_them()
    {
        var payload = RandomBytes(1024 * 1024, 4);
        await using var backend = await TestBackend.StartAsync(
            app => app.Run(async context =>
            {
                context.Response.ContentType = "application/octet-stream";
                context.Response.ContentLength = payload.Length;
                for (var offset = 0; offset < payload.Length; offset += 64 * 1024)
                {
                    await context.Response.Body.WriteAsync(payload.AsMemory(offset, Math.Min(64 * 1024, payload.Length - offset)));
                }
            }),
            output);
        await using var router = await FakeRouter.StartAsync(output, FakeRouterProtocols.Both);
        var connector = await TestConnector.StartAsync([router.RegisterUri], Route, backend.Uri, output, sockets: 1);
        await using var disposer = new ConnectorDisposer(connector);
        var peer = await router.NextPeerAsync();

        await peer.SendGetAsync(1, "/svc/big");

        // Nothing is acknowledged yet, neither the head nor the DATA: the connector counts both (§5.6) and must
        // stop once more than 64 KiB are outstanding, which is at most 64 KiB plus the one DATA that crossed it.
        var headAck = await peer.NextAsync();
        Assert.Equal(V3Wire.WindowUpdate, headAck.Type);
        var head = await peer.NextAsync();
        Assert.Equal(V3Wire.Header, head.Type);
        Assert.Equal(V3Wire.EndHeader, head.Flags);
        Assert.Contains($"content-length:{payload.Length}", V3Wire.AssertResponseHead(V3Wire.StrictUtf8.GetString(head.Payload), 200));
        long headBytes = head.Payload.Length;
        long dataBytes = 0;
        while (headBytes + dataBytes <= V3Wire.High)
        {
            var data = await peer.NextAsync();
            Assert.True(data.IsFrame && data.Type == V3Wire.Data && data.Id == 1 && data.Flags == 0, $"expected DATA for stream 1, got {data}");
            Assert.InRange(data.Payload.Length, 1, V3Wire.MaxDataPayload);
            dataBytes += data.Payload.Length;
        }

        output.WriteLine($"sent before stalling: head {headBytes} + body {dataBytes}");
        Assert.InRange(dataBytes, 1, V3Wire.High + V3Wire.MaxDataPayload);
        Assert.InRange(headBytes + dataBytes, V3Wire.High + 1, V3Wire.High + V3Wire.MaxDataPayload);

        // "Stops" is an absence, so it needs one bounded wait: with 1 MiB still to go, a connector that ignored the
        // window would send its next DATA within microseconds; 500 ms of silence is ample. This wait can only miss
        // a bug on a badly stalled machine, never fail a correct connector.
        Assert.False(await peer.AnythingWithinAsync(TimeSpan.FromMilliseconds(500)), "the connector kept sending past 64 KiB without acknowledgements");

        // Acknowledge like a router that has now written everything to its client; the rest must follow.
        var exchange = await AcknowledgeAllAndReadToEndAsync(peer, 1);
        exchange.AssertCompletedNormally();
        AssertSameBytes(payload, exchange.Body);
        Assert.True(exchange.DataMessages.Count > 2, "the body should have taken several DATA messages");
        Assert.Equal(WebSocketState.Open, peer.State);
    }

    [Fact]
    public async Task With_a_flow_window_agreed_the_response_body_stops_at_that_window_instead_of_64_KiB()
    {
        const int window = 256 * 1024;
        var payload = RandomBytes(1024 * 1024, 5);
        await using var backend = await PayloadBackendAsync(payload);
        await using var router = await FakeRouter.StartAsync(output, FakeRouterProtocols.Both, answerExtensions: $"websocket, flow-window={window}");
        var connector = await TestConnector.StartAsync([router.RegisterUri], Route, backend.Uri, output, sockets: 1);
        await using var disposer = new ConnectorDisposer(connector);
        var peer = await router.NextPeerAsync();

        // The connector offers its default window (1 MiB); this router accepted a quarter of it.
        Assert.Contains("flow-window=1048576", peer.Handshake.Header("Putsh-Extensions"), StringComparison.Ordinal);

        await peer.SendGetAsync(1, "/svc/big");
        Assert.Equal(V3Wire.WindowUpdate, (await peer.NextAsync()).Type);
        var head = await peer.NextAsync();
        Assert.Equal(V3Wire.Header, head.Type);
        long sent = head.Payload.Length;
        while (sent <= window)
        {
            var data = await peer.NextAsync();
            Assert.True(data.IsFrame && data.Type == V3Wire.Data && data.Id == 1 && data.Flags == 0, $"expected DATA for stream 1, got {data}");
            sent += data.Payload.Length;
        }

        // Well past §5.6's 64 KiB without a single acknowledgement, and then nothing more: the same one bounded
        // wait for an absence as the 64 KiB test above.
        Assert.InRange(sent, window + 1, window + V3Wire.MaxDataPayload);
        Assert.False(await peer.AnythingWithinAsync(TimeSpan.FromMilliseconds(500)), "the connector kept sending past the agreed window");

        var exchange = await AcknowledgeAllAndReadToEndAsync(peer, 1);
        exchange.AssertCompletedNormally();
        AssertSameBytes(payload, exchange.Body);
    }

    [Theory]
    [InlineData(false, "flow-window=1048576, no-head-ack", false)]
    [InlineData(false, "flow-window=1048576", true)] // the router did not accept it: heads are acknowledged (§5.3)
    [InlineData(false, "no-head-ack", true)] // only beside a flow-window
    [InlineData(true, "flow-window=1048576, no-response-head-ack", true)] // the default: request heads are acknowledged
    [InlineData(true, "flow-window=1048576", true)]
    public async Task With_no_head_ack_agreed_the_request_head_is_not_acknowledged(bool acknowledgeHeads, string answer, bool headAcked)
    {
        const int window = 1024 * 1024;
        var payload = RandomBytes(3 * 65536, 7);
        await using var backend = await PayloadBackendAsync(payload);
        await using var router = await FakeRouter.StartAsync(output, FakeRouterProtocols.Both, answerExtensions: answer);
        var connector = await TestConnector.StartAsync([router.RegisterUri], Route, backend.Uri, output, o => o.AcknowledgeHeads = acknowledgeHeads, sockets: 1);
        await using var disposer = new ConnectorDisposer(connector);
        var peer = await router.NextPeerAsync();

        // A putsh connector offers one or the other beside its flow-window.
        var offer = acknowledgeHeads ? "no-response-head-ack" : "no-head-ack";
        Assert.Contains($"flow-window={window}, {offer}", peer.Handshake.Header("Putsh-Extensions"), StringComparison.Ordinal);

        await peer.SendGetAsync(1, "/svc/three-chunks");
        if (headAcked)
        {
            Assert.Equal(V3Wire.WindowUpdate, (await peer.NextAsync()).Type);
        }

        // Otherwise the first thing back is the response head itself.
        var head = await peer.NextAsync();
        Assert.True(head.IsFrame && head.Type == V3Wire.Header && head.Id == 1, $"expected the response HEADER, got {head}");
        var exchange = await peer.ReadUntilEndedAsync(1);
        exchange.AssertCompletedNormally();
        AssertSameBytes(payload, exchange.Body);
        // A bodiless request: the head's acknowledgement is the only WINDOW_UPDATE there could be.
        Assert.Equal(headAcked ? 1 : 0, exchange.Acks.Count);
    }

    /// <summary>Acknowledges every HEADER and DATA of stream <paramref name="id"/> so far, as a router that wrote them all, then reads it to its end.</summary>
    private static async Task<V3Exchange> AcknowledgeAllAndReadToEndAsync(V3Peer peer, int id)
    {
        foreach (var message in peer.Exchange(id).Messages.Where(m => m.Type is V3Wire.Header or V3Wire.Data).ToList())
        {
            await peer.AcknowledgeAsync(message);
        }

        return await peer.ReadUntilEndedAsync(id);
    }

    [Fact]
    public async Task A_20000_character_response_header_arrives_as_two_HEADER_pieces_flagged_00_then_04()
    {
        var big = Letters(20_000);
        await using var backend = await TestBackend.StartAsync(
            app => app.Run(async context =>
            {
                context.Response.Headers["X-Big"] = big;
                await context.Response.WriteAsync("done");
            }),
            output);
        await using var router = await FakeRouter.StartAsync(output, FakeRouterProtocols.Both);
        var connector = await TestConnector.StartAsync([router.RegisterUri], Route, backend.Uri, output, sockets: 1);
        await using var disposer = new ConnectorDisposer(connector);
        var peer = await router.NextPeerAsync();

        await peer.SendGetAsync(1, "/svc/bighead");
        var exchange = await peer.ReadUntilEndedAsync(1);

        exchange.AssertCompletedNormally();
        var pieces = exchange.HeadPieces;
        Assert.Equal(2, pieces.Count);

        // Never END_STREAM on a piece: mu would end the response there (§5.3). END_HEADER only on the last.
        Assert.Equal(0x00, pieces[0].Flags);
        Assert.Equal(0x04, pieces[1].Flags);
        Assert.Equal(V3Wire.PieceChars, pieces[0].Payload.Length); // an ASCII head: 16000 characters, 16000 bytes
        var lines = V3Wire.AssertResponseHead(exchange.Head, 200);
        Assert.Contains("x-big:" + big, lines);
        Assert.Equal("done"u8.ToArray(), exchange.Body);
    }

    [Fact]
    public async Task A_20000_character_request_header_in_two_pieces_flagged_01_then_05_reaches_the_backend_and_each_piece_is_acknowledged()
    {
        var big = Letters(20_000);
        var seen = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var backend = await TestBackend.StartAsync(
            app => app.Run(async context =>
            {
                seen.TrySetResult(context.Request.Headers["X-Big"].ToString());
                await context.Response.WriteAsync("ok");
            }),
            output);
        await using var router = await FakeRouter.StartAsync(output, FakeRouterProtocols.Both);
        var connector = await TestConnector.StartAsync([router.RegisterUri], Route, backend.Uri, output, sockets: 1);
        await using var disposer = new ConnectorDisposer(connector);
        var peer = await router.NextPeerAsync();

        // mu style for a bodiless request: END_STREAM on every piece, END_HEADER on the last (§5.3).
        var pieces = V3Wire.Pieces($"GET /svc/bighead-in HTTP/1.1\nHost:r\nX-Big:{big}\nvia:HTTP/1.1 muc\n\n");
        Assert.Equal(2, pieces.Count);
        await peer.SendHeaderAsync(1, V3Wire.EndStream, pieces[0]);
        await peer.SendHeaderAsync(1, V3Wire.EndHeader | V3Wire.EndStream, pieces[1]);

        var first = await peer.NextAsync();
        Assert.Equal(V3Wire.WindowUpdateMessage(1, 16000), first.Raw);
        var second = await peer.NextAsync();
        Assert.Equal(V3Wire.WindowUpdateMessage(1, pieces[1].Length), second.Raw);

        Assert.Equal(big, await seen.Task.DefaultTimeout());
        var exchange = await peer.ReadUntilEndedAsync(1);
        exchange.AssertCompletedNormally();
        V3Wire.AssertResponseHead(exchange.Head, 200);
        Assert.Equal("ok"u8.ToArray(), exchange.Body);
        Assert.Equal(2, exchange.Acks.Count);
    }
}
