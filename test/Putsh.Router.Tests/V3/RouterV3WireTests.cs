using System.Net;
using System.Net.WebSockets;
using System.Text;
using Putsh.Router.Tests.V1;
using Putsh.Tests.Common;
using Xunit.Abstractions;

namespace Putsh.Router.Tests.V3;

/// <summary>The router's side of cranker_3.0, byte for byte, against a hand-driven connector socket (§5).</summary>
public sealed class RouterV3WireTests(ITestOutputHelper output)
{
    private const int High = 64 * 1024;
    private const int MaxDataPayload = 65536 - 14 - 6;

    // ---- 1. the §5.9 worked example --------------------------------------------------------------------------

    [Fact]
    public async Task The_worked_example_of_5_9_is_byte_exact_and_the_next_request_gets_id_2()
    {
        await using var router = await TestRouter.StartAsync(output);
        await using var connector = await FakeV3Connector.ConnectAndWaitAsync(router, "svc");

        using var request = new HttpRequestMessage(HttpMethod.Get, "/svc/hi");
        request.Headers.Host = "r";
        var responseTask = router.Client.SendAsync(request);

        // HEADER, END_HEADER|END_STREAM, id 1: the whole head in one message, LF only, no v1 marker.
        var header = await connector.ReceiveBinaryAsync();
        Assert.Equal("010500000001", Convert.ToHexString(header.AsSpan(0, 6)));
        var head = Encoding.UTF8.GetString(header.AsSpan(6));
        Assert.StartsWith("GET /svc/hi HTTP/1.1\n", head);
        Assert.EndsWith("\n\n", head);
        Assert.DoesNotContain('\r', head);
        Assert.DoesNotContain("_2", head);
        Assert.DoesNotContain("\n\n_", head);
        Assert.Equal("GET /svc/hi HTTP/1.1\nHost:r\nvia:HTTP/1.1 putsh\nforwarded:by=127.0.0.1;for=127.0.0.1;host=r;proto=http\n\n", head);

        // The connector acknowledges the head on receipt.
        await connector.SendAsync(V3Bytes.WindowUpdateMessage(1, header.Length - 6));

        // HEADER, END_HEADER, "HTTP/1.1 200 TODO\ncontent-length:2\n" (35 bytes), exactly as printed in §5.9.
        var responseHead = V3Bytes.Hex(
            "01 04 00 00 00 01 48 54 54 50 2F 31 2E 31 20 32 30 30 20 54 4F 44 4F 0A 63 6F 6E 74 65 6E 74 2D 6C 65 "
            + "6E 67 74 68 3A 32 0A");
        Assert.Equal(V3Bytes.HeaderMessage(1, 0x04, "HTTP/1.1 200 TODO\ncontent-length:2\n"), responseHead);
        await connector.SendAsync(responseHead);
        await connector.ExpectAsync(V3Bytes.Hex("08 00 00 00 00 01 00 00 00 23"));

        await connector.SendAsync(V3Bytes.Hex("00 00 00 00 00 01 68 69"));
        await connector.ExpectAsync(V3Bytes.Hex("08 00 00 00 00 01 00 00 00 02"));
        await connector.SendAsync(V3Bytes.Hex("00 01 00 00 00 01"));

        using var response = await responseTask.DefaultTimeout();
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("hi", await response.Content.ReadAsStringAsync().DefaultTimeout());

        // Same socket, next stream: id 2. Nothing else came first (no ack for the empty END_STREAM DATA, §5.6).
        var secondTask = router.Client.GetAsync("/svc/again");
        var second = await connector.ReceiveFrameAsync();
        Assert.Equal((V3Bytes.Header, (byte)0x05, 2), (second.Type, second.Flags, second.Id));
        Assert.StartsWith("GET /svc/again HTTP/1.1\n", second.Text);
        await connector.SendAsync(V3Bytes.WindowUpdateMessage(2, second.Payload.Length));
        await RespondAsync(connector, 2, "two");
        using var secondResponse = await secondTask.DefaultTimeout();
        Assert.Equal("two", await secondResponse.Content.ReadAsStringAsync().DefaultTimeout());
    }

    // ---- 2. request bodies -------------------------------------------------------------------------------------

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_request_body_goes_as_DATA_chunks_and_ends_with_END_STREAM(bool chunked)
    {
        await using var router = await TestRouter.StartAsync(output);
        await using var connector = await FakeV3Connector.ConnectAndWaitAsync(router, "svc");

        var body = RandomBytes(100_000);
        using HttpContent content = chunked ? new ChunkedContent(body, 7000) : new ByteArrayContent(body);
        var responseTask = router.Client.PostAsync("/svc/upload", content);

        var head = await connector.ReceiveFrameAsync();
        Assert.Equal((V3Bytes.Header, (byte)0x04, 1), (head.Type, head.Flags, head.Id));
        Assert.EndsWith("\n\n", head.Text);
        Assert.DoesNotContain("transfer-encoding", head.Text, StringComparison.OrdinalIgnoreCase);
        if (chunked)
        {
            Assert.DoesNotContain("content-length", head.Text, StringComparison.OrdinalIgnoreCase);
        }
        else
        {
            Assert.Contains("\nContent-Length:100000\n", head.Text);
        }

        await connector.SendAsync(V3Bytes.WindowUpdateMessage(1, head.Payload.Length));
        var (received, endedOnData) = await ReceiveBodyEndAsync(connector, 1, acknowledge: true);
        Assert.Equal(body, received);

        // A body of known length ends on its last DATA; a chunked one with an empty DATA, as its end is only known then.
        Assert.Equal(!chunked, endedOnData);

        await RespondAsync(connector, 1, "got it");
        using var response = await responseTask.DefaultTimeout();
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("got it", await response.Content.ReadAsStringAsync().DefaultTimeout());
    }

    [Fact]
    public async Task A_content_length_0_request_has_no_body_so_its_head_ends_the_stream()
    {
        await using var router = await TestRouter.StartAsync(output);
        await using var connector = await FakeV3Connector.ConnectAndWaitAsync(router, "svc");

        using var content = new ByteArrayContent([]);
        var responseTask = router.Client.PostAsync("/svc/empty", content);

        // §2.4: Content-Length 0 means no body, so HEADER carries END_STREAM and no DATA follows.
        var head = await AcceptAsync(connector, 1);
        Assert.StartsWith("POST /svc/empty HTTP/1.1\n", head);
        Assert.Contains("\nContent-Length:0\n", head);

        // The next message is the ack of our response head: no DATA (not even an empty END_STREAM) came first.
        await RespondAsync(connector, 1, "empty");
        using var response = await responseTask.DefaultTimeout();
        Assert.Equal("empty", await response.Content.ReadAsStringAsync().DefaultTimeout());
    }

    // ---- 3. heads of 16000-character pieces --------------------------------------------------------------------

    [Fact]
    public async Task A_20000_character_request_head_comes_in_two_pieces_with_END_STREAM_on_each()
    {
        await using var router = await TestRouter.StartAsync(output);
        await using var connector = await FakeV3Connector.ConnectAndWaitAsync(router, "svc");

        var big = Pattern(20_000);
        using var request = new HttpRequestMessage(HttpMethod.Get, "/svc/big");
        request.Headers.Add("X-Big", big);
        var responseTask = router.Client.SendAsync(request);

        // mu puts END_STREAM on every piece of a bodiless head; only the last has END_HEADER (§5.3).
        var first = await connector.ReceiveBinaryAsync();
        Assert.Equal("010100000001", Convert.ToHexString(first.AsSpan(0, 6)));
        Assert.Equal(16000, first.Length - 6);
        await connector.SendAsync(V3Bytes.WindowUpdateMessage(1, first.Length - 6));

        var last = await connector.ReceiveBinaryAsync();
        Assert.Equal("010500000001", Convert.ToHexString(last.AsSpan(0, 6)));
        Assert.InRange(last.Length - 6, 1, 16000);
        await connector.SendAsync(V3Bytes.WindowUpdateMessage(1, last.Length - 6));

        var head = Encoding.UTF8.GetString(first.AsSpan(6)) + Encoding.UTF8.GetString(last.AsSpan(6));
        Assert.StartsWith("GET /svc/big HTTP/1.1\n", head);
        Assert.Contains("\nX-Big:" + big + "\n", head);
        Assert.EndsWith("\n\n", head);

        await RespondAsync(connector, 1, "ok");
        using var response = await responseTask.DefaultTimeout();
        Assert.Equal("ok", await response.Content.ReadAsStringAsync().DefaultTimeout());
    }

    [Fact]
    public async Task A_20000_character_response_head_in_two_pieces_arrives_intact_and_each_piece_is_acknowledged()
    {
        await using var router = await TestRouter.StartAsync(output);
        await using var connector = await FakeV3Connector.ConnectAndWaitAsync(router, "svc");

        var responseTask = router.Client.GetAsync("/svc/big");
        await AcceptAsync(connector, 1);

        var value = Pattern(20_000);
        var head = "HTTP/1.1 200 TODO\nx-big:" + value + "\ncontent-type:text/plain\n";
        var pieces = new[] { head[..16000], head[16000..] };
        await connector.SendAsync(V3Bytes.HeaderMessage(1, 0x00, pieces[0]));
        await connector.ExpectAsync(V3Bytes.WindowUpdateMessage(1, 16000));
        await connector.SendAsync(V3Bytes.HeaderMessage(1, 0x04, pieces[1]));
        await connector.ExpectAsync(V3Bytes.WindowUpdateMessage(1, pieces[1].Length));
        await connector.SendAsync(V3Bytes.DataMessage(1, 0x00, "body"u8));
        await connector.ExpectAsync(V3Bytes.WindowUpdateMessage(1, 4));
        await connector.SendAsync(V3Bytes.EndStream(1));

        using var response = await responseTask.DefaultTimeout();
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(value, response.Headers.GetValues("x-big").Single());
        Assert.Equal("body", await response.Content.ReadAsStringAsync().DefaultTimeout());
    }

    // ---- 4. flow control of the request body -------------------------------------------------------------------

    [Fact]
    public async Task An_upload_stops_at_the_high_watermark_until_acknowledged_then_completes()
    {
        await using var router = await TestRouter.StartAsync(output);
        await using var connector = await FakeV3Connector.ConnectAndWaitAsync(router, "svc");

        var body = RandomBytes(1024 * 1024);
        using var content = new ByteArrayContent(body);
        var responseTask = router.Client.PostAsync("/svc/upload", content);

        var head = await connector.ReceiveFrameAsync();
        Assert.Equal((V3Bytes.Header, (byte)0x04, 1), (head.Type, head.Flags, head.Id));

        // Phase 1: nothing is acknowledged, not even the head. The head's bytes count against the window (§5.6), and
        // an ack of the head would race with the router's DATA, making the stopping point vary by one chunk; with
        // no ack at all it is exact: the router sends until head + DATA exceed 64 KiB, and not one message more.
        using var received = new MemoryStream();
        var unacked = await ReceiveUnacknowledgedAsync(connector, 1, head.Payload.Length, High, received);

        Assert.InRange(unacked, High + 1, High + MaxDataPayload);

        // Once more than 64 KiB is unacknowledged the router must send nothing at all for this stream, and nothing
        // else is in flight on this socket, so the only observable is an absence. An absence cannot be awaited, so
        // this is the one bounded wait of the suite: a router that ignores its window sends its next chunk within
        // microseconds on loopback, far inside 500 ms; a correct router sends nothing, and the wait just expires.
        await Task.WhenAny(connector.WaitForMessageAsync(), Task.Delay(TimeSpan.FromMilliseconds(500))).DefaultTimeout();
        Assert.False(connector.TryReceive(out var extra), $"the router sent beyond its window after {unacked} unacknowledged bytes: {extra}");

        // Phase 2: acknowledge everything so far, head included (unacked drops below 16 KiB), then each chunk as it comes.
        await connector.SendAsync(V3Bytes.WindowUpdateMessage(1, (int)unacked));
        received.Write(await ReceiveBodyAsync(connector, 1, acknowledge: true));
        Assert.Equal(body, received.ToArray());

        await RespondAsync(connector, 1, "done");
        using var response = await responseTask.DefaultTimeout();
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("done", await response.Content.ReadAsStringAsync().DefaultTimeout());
    }

    [Theory]
    [InlineData("flow-window=262144", "flow-window=262144")] // accepted as offered
    [InlineData("websocket, flow-window=8388608", "websocket, flow-window=1048576")] // capped at MaxFlowWindow (1 MiB)
    [InlineData("flow-window=65536", null)] // not above 64 KiB: nothing to agree
    [InlineData("flow-window=lots", null)] // malformed: ignored
    [InlineData("flow-window=33554432", null)] // beyond the 16 MiB any putsh peer accepts: ignored
    [InlineData("flow-window=262144, no-head-ack", "flow-window=262144, no-head-ack")] // accepted beside a window
    [InlineData("flow-window=262144, no-response-head-ack", "flow-window=262144, no-response-head-ack")]
    [InlineData("no-head-ack", null)] // only beside a flow-window
    [InlineData("websocket, no-head-ack, flow-window=65536", "websocket")] // the window is not agreed, so neither is it
    public async Task The_router_answers_a_flow_window_offer_with_the_window_it_accepts(string offer, string? answer)
    {
        await using var router = await TestRouter.StartAsync(output);
        await using var connector = await FakeV3Connector.ConnectAndWaitAsync(router, "svc", extensions: offer);
        Assert.Equal(answer, connector.AnsweredExtensions);
    }

    [Fact]
    public async Task With_a_flow_window_agreed_an_upload_goes_past_64_KiB_unacknowledged_up_to_that_window()
    {
        const int window = 256 * 1024;
        await using var router = await TestRouter.StartAsync(output);
        await using var connector = await FakeV3Connector.ConnectAndWaitAsync(router, "svc", extensions: $"flow-window={window}");
        Assert.Equal($"flow-window={window}", connector.AnsweredExtensions);

        var body = RandomBytes(1_000_000);
        var responseTask = router.Client.PostAsync("/svc/upload", new ByteArrayContent(body));
        var head = await connector.ReceiveFrameAsync();
        Assert.Equal((V3Bytes.Header, (byte)0x04, 1), (head.Type, head.Flags, head.Id));

        // Nothing acknowledged: the router sends until head + DATA exceed the agreed window, four times §5.6's.
        using var received = new MemoryStream();
        var unacked = await ReceiveUnacknowledgedAsync(connector, 1, head.Payload.Length, window, received);

        Assert.InRange(unacked, window + 1, window + MaxDataPayload);

        await connector.SendAsync(V3Bytes.WindowUpdateMessage(1, (int)unacked));
        received.Write(await ReceiveBodyAsync(connector, 1, acknowledge: true));
        Assert.Equal(body, received.ToArray());

        await RespondAsync(connector, 1, "done");
        using var response = await responseTask.DefaultTimeout();
        Assert.Equal("done", await response.Content.ReadAsStringAsync().DefaultTimeout());
    }

    [Theory]
    [InlineData(null)]
    [InlineData("flow-window=1048576")]
    public async Task Response_DATA_is_acknowledged_in_whole_chunks_that_add_up_to_all_of_it_batched_only_with_a_larger_window(string? extensions)
    {
        const int chunk = 16 * 1024, count = 64, total = chunk * count;
        var window = extensions is null ? High : 1024 * 1024;
        await using var router = await TestRouter.StartAsync(output);
        await using var connector = await FakeV3Connector.ConnectAndWaitAsync(router, "svc", extensions: extensions);
        Assert.Equal(extensions, connector.AnsweredExtensions);

        var bodyTask = Task.Run(async () =>
        {
            using var response = await router.Client.GetAsync("/svc/big", HttpCompletionOption.ResponseHeadersRead);
            return await response.Content.ReadAsByteArrayAsync();
        });
        await AcceptAsync(connector, 1);
        var head = $"HTTP/1.1 200 OK\ncontent-length:{total}\n";
        await connector.SendAsync(V3Bytes.HeaderMessage(1, 0x04, head));
        await connector.ExpectAsync(V3Bytes.WindowUpdateMessage(1, head.Length));

        // Send as a well-behaved connector: never more than the window unacknowledged (§5.6).
        var body = RandomBytes(total);
        var acks = new List<int>();
        long unacked = 0;
        async Task TakeAckAsync()
        {
            var update = await connector.ReceiveFrameAsync();
            Assert.True(update.Type == V3Bytes.WindowUpdate && update.Id == 1, $"expected a WINDOW_UPDATE for stream 1, got {update}");
            var n = System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(update.Payload);
            acks.Add(n);
            unacked -= n;
        }

        for (var i = 0; i < count; i++)
        {
            await connector.SendAsync(V3Bytes.DataMessage(1, 0x00, body.AsSpan(i * chunk, chunk)));
            unacked += chunk;
            while (unacked >= window)
            {
                await TakeAckAsync();
            }
        }

        // Every byte is acknowledged once written, with nothing more to come: a batching router must not sit on the rest.
        while (unacked > 0)
        {
            await TakeAckAsync();
        }

        await connector.SendAsync(V3Bytes.EndStream(1));
        Assert.Equal(body, await bodyTask.DefaultTimeout());

        output.WriteLine($"{acks.Count} acks: " + string.Join(", ", acks));
        Assert.Equal(total, acks.Sum());
        Assert.All(acks, a => Assert.Equal(0, a % chunk)); // whole chunks, after they were written
        if (extensions is null)
        {
            Assert.All(acks, a => Assert.Equal(chunk, a)); // plain Cranker: one per chunk, as §5.6's table says
        }
        else
        {
            Assert.All(acks, a => Assert.InRange(a, chunk, window / 4)); // batched, never beyond a quarter of the window
        }
    }

    [Theory]
    [InlineData("flow-window=262144, no-head-ack", false)]
    [InlineData("flow-window=262144, no-response-head-ack", false)]
    [InlineData("flow-window=262144", true)]
    public async Task With_no_head_ack_agreed_the_router_does_not_acknowledge_a_response_head(string offer, bool headAcked)
    {
        await using var router = await TestRouter.StartAsync(output);
        await using var connector = await FakeV3Connector.ConnectAndWaitAsync(router, "svc", extensions: offer);
        var responseTask = router.Client.GetAsync("/svc/x");

        // The request head: acknowledged by this connector only when acks were not given up.
        var request = await connector.ReceiveFrameAsync();
        Assert.Equal((V3Bytes.Header, (byte)0x05, 1), (request.Type, request.Flags, request.Id));
        if (headAcked)
        {
            await connector.SendAsync(V3Bytes.WindowUpdateMessage(1, request.Payload.Length));
        }

        // The router acknowledges a HEADER on receipt, before it reads the DATA behind it, so the first message back
        // tells which: the head's length, or the 10 body bytes once written to the client.
        var head = "HTTP/1.1 200 OK\ncontent-length:20\n";
        await connector.SendAsync(V3Bytes.HeaderMessage(1, 0x04, head));
        await connector.SendAsync(V3Bytes.DataMessage(1, 0x00, "0123456789"u8));
        if (headAcked)
        {
            await connector.ExpectAsync(V3Bytes.WindowUpdateMessage(1, head.Length));
        }

        await connector.ExpectAsync(V3Bytes.WindowUpdateMessage(1, 10));
        await connector.SendAsync(V3Bytes.DataMessage(1, 0x01, "abcdefghij"u8));
        using var response = await responseTask.DefaultTimeout();
        Assert.Equal("0123456789abcdefghij", await response.Content.ReadAsStringAsync().DefaultTimeout());
    }

    // ---- 5. client abort ---------------------------------------------------------------------------------------

    [Fact]
    public async Task A_client_that_leaves_mid_response_gets_its_stream_reset_with_code_1_and_the_socket_serves_on()
    {
        await using var router = await TestRouter.StartAsync(output);
        await using var connector = await FakeV3Connector.ConnectAndWaitAsync(router, "svc");

        var responseTask = router.Client.GetAsync("/svc/stream", HttpCompletionOption.ResponseHeadersRead);
        await AcceptAsync(connector, 1);
        var responseHead = "HTTP/1.1 200 TODO\ncontent-type:text/plain\n";
        await connector.SendAsync(V3Bytes.HeaderMessage(1, 0x04, responseHead));
        await connector.ExpectAsync(V3Bytes.WindowUpdateMessage(1, responseHead.Length));
        await connector.SendAsync(V3Bytes.DataMessage(1, 0x00, "abc"u8));
        await connector.ExpectAsync(V3Bytes.WindowUpdateMessage(1, 3));

        using (var response = await responseTask.DefaultTimeout())
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            await using var stream = await response.Content.ReadAsStreamAsync().DefaultTimeout();
            var buffer = new byte[3];
            await stream.ReadExactlyAsync(buffer).AsTask().DefaultTimeout();
            Assert.Equal("abc", Encoding.ASCII.GetString(buffer));

            // Cancelling a pending read makes the HTTP/1.1 client drop its connection at once.
            using var cancel = new CancellationTokenSource();
            var pending = stream.ReadAsync(new byte[16], cancel.Token).AsTask();
            await cancel.CancelAsync();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => pending).DefaultTimeout();
        }

        // Exactly §5.9's RST: code 1, "Client early closed".
        await connector.ExpectAsync(V3Bytes.Hex("03 00 00 00 00 01 00 00 00 01 43 6C 69 65 6E 74 20 65 61 72 6C 79 20 63 6C 6F 73 65 64"));

        // Late messages for the reset stream are ignored (no ack), and the socket takes the next request as id 2.
        await connector.SendAsync(V3Bytes.DataMessage(1, 0x00, "late"u8));
        var nextTask = router.Client.GetAsync("/svc/next");
        await AcceptAsync(connector, 2);
        await RespondAsync(connector, 2, "next");
        using var next = await nextTask.DefaultTimeout();
        Assert.Equal("next", await next.Content.ReadAsStringAsync().DefaultTimeout());
    }

    // ---- 6. RST_STREAM from the connector ----------------------------------------------------------------------

    [Theory]
    [InlineData("0000 03F3 7461726765742072657175657374206661696C65643A20636F6E6E656374696F6E2072656675736564")] // 1011 "target request failed: connection refused"
    [InlineData("0000 03F3")] // 1011, empty message
    [InlineData("00")] // shorter than a code: read as -1
    public async Task A_reset_before_the_head_is_a_502_and_the_socket_serves_on(string payloadHex)
    {
        await using var router = await TestRouter.StartAsync(output);
        await using var connector = await FakeV3Connector.ConnectAndWaitAsync(router, "svc");

        var responseTask = router.Client.GetAsync("/svc/fail");
        await AcceptAsync(connector, 1);
        await connector.SendAsync(V3Bytes.Message(V3Bytes.Rst, 0x00, 1, V3Bytes.Hex(payloadHex)));

        using var response = await responseTask.DefaultTimeout();
        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
        Assert.Contains("<h1>502 Bad Gateway</h1>", await response.Content.ReadAsStringAsync().DefaultTimeout());

        // No RST echoed back: the next thing on the socket is the next request.
        var nextTask = router.Client.GetAsync("/svc/next");
        await AcceptAsync(connector, 2);
        await RespondAsync(connector, 2, "next");
        using var next = await nextTask.DefaultTimeout();
        Assert.Equal("next", await next.Content.ReadAsStringAsync().DefaultTimeout());
    }

    [Fact]
    public async Task A_reset_after_the_head_aborts_the_client_response()
    {
        await using var router = await TestRouter.StartAsync(output);
        await using var connector = await FakeV3Connector.ConnectAndWaitAsync(router, "svc");

        var responseTask = router.Client.GetAsync("/svc/fail", HttpCompletionOption.ResponseHeadersRead);
        await AcceptAsync(connector, 1);
        var responseHead = "HTTP/1.1 200 TODO\n";
        await connector.SendAsync(V3Bytes.HeaderMessage(1, 0x04, responseHead));
        await connector.ExpectAsync(V3Bytes.WindowUpdateMessage(1, responseHead.Length));
        await connector.SendAsync(V3Bytes.DataMessage(1, 0x00, "partial"u8));
        await connector.ExpectAsync(V3Bytes.WindowUpdateMessage(1, 7));

        using var response = await responseTask.DefaultTimeout();
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        await connector.SendAsync(V3Bytes.RstMessage(1, 1011, "target response body receiving error: boom"));

        // Chunked with no terminating chunk: a clean end here would pass a truncated body off as complete.
        await Assert.ThrowsAnyAsync<Exception>(() => response.Content.ReadAsByteArrayAsync()).DefaultTimeout();
    }

    // ---- 7. the connector's socket ends ------------------------------------------------------------------------

    [Fact]
    public async Task A_close_with_1000_completes_every_open_stream_normally()
    {
        await using var router = await TestRouter.StartAsync(output);
        await using var connector = await FakeV3Connector.ConnectAndWaitAsync(router, "svc");

        var oneTask = router.Client.GetAsync("/svc/one");
        await AcceptAsync(connector, 1);
        var twoTask = router.Client.GetAsync("/svc/two");
        await AcceptAsync(connector, 2);

        var responseHead = "HTTP/1.1 200 TODO\ncontent-type:text/plain\n";
        foreach (var (id, text) in new[] { (1, "first part"), (2, "second part") })
        {
            await connector.SendAsync(V3Bytes.HeaderMessage(id, 0x04, responseHead));
            await connector.ExpectAsync(V3Bytes.WindowUpdateMessage(id, responseHead.Length));
            await connector.SendAsync(V3Bytes.DataMessage(id, 0x00, Encoding.ASCII.GetBytes(text)));
            await connector.ExpectAsync(V3Bytes.WindowUpdateMessage(id, text.Length));
        }

        await connector.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "");

        // No content-length: the body so far is the whole, complete (chunked-terminated) response.
        using var one = await oneTask.DefaultTimeout();
        using var two = await twoTask.DefaultTimeout();
        Assert.Equal(HttpStatusCode.OK, one.StatusCode);
        Assert.Equal("first part", await one.Content.ReadAsStringAsync().DefaultTimeout());
        Assert.Equal(HttpStatusCode.OK, two.StatusCode);
        Assert.Equal("second part", await two.Content.ReadAsStringAsync().DefaultTimeout());
        await connector.ExpectCloseAsync();
    }

    [Theory]
    [InlineData("close 1011", false)]
    [InlineData("drop", false)]
    [InlineData("close 1011", true)]
    [InlineData("drop", true)]
    public async Task A_close_with_1011_or_a_dropped_connection_fails_open_streams(string how, bool afterHead)
    {
        await using var router = await TestRouter.StartAsync(output);
        await using var connector = await FakeV3Connector.ConnectAndWaitAsync(router, "svc");

        var responseTask = router.Client.GetAsync("/svc/x", HttpCompletionOption.ResponseHeadersRead);
        await AcceptAsync(connector, 1);
        if (afterHead)
        {
            var responseHead = "HTTP/1.1 200 TODO\n";
            await connector.SendAsync(V3Bytes.HeaderMessage(1, 0x04, responseHead));
            await connector.ExpectAsync(V3Bytes.WindowUpdateMessage(1, responseHead.Length));
            await connector.SendAsync(V3Bytes.DataMessage(1, 0x00, "partial"u8));
            await connector.ExpectAsync(V3Bytes.WindowUpdateMessage(1, 7));
        }

        if (how == "drop")
        {
            connector.Socket.Abort();
        }
        else
        {
            await connector.CloseOutputAsync(WebSocketCloseStatus.InternalServerError, "target failed");
        }

        using var response = await responseTask.DefaultTimeout();
        if (afterHead)
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            await Assert.ThrowsAnyAsync<Exception>(() => response.Content.ReadAsByteArrayAsync()).DefaultTimeout();
        }
        else
        {
            Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
            Assert.Contains("<h1>502 Bad Gateway</h1>", await response.Content.ReadAsStringAsync().DefaultTimeout());
        }

        await FakeV3Connector.WaitUntilAsync(() => FakeV3Connector.V3Count(router, "*", "svc") == 0, "the socket left the pool");
    }

    // ---- 8. what the router ignores ----------------------------------------------------------------------------

    [Fact]
    public async Task Unknown_types_unknown_ids_text_and_short_messages_are_ignored()
    {
        await using var router = await TestRouter.StartAsync(output);
        await using var connector = await FakeV3Connector.ConnectAndWaitAsync(router, "svc");

        var responseTask = router.Client.GetAsync("/svc/junk");
        await AcceptAsync(connector, 1);

        // Reserved types (on the open stream and elsewhere), every type for ids never opened, text, and runts.
        await connector.SendAsync(V3Bytes.Message(0x02, 0x00, 1, [1, 2, 3, 4]));
        await connector.SendAsync(V3Bytes.Message(0x09, 0x05, 1, "HTTP/1.1 500 X\n"u8));
        await connector.SendAsync(V3Bytes.Message(0xFF, 0xFF, 1, []));
        await connector.SendAsync(V3Bytes.HeaderMessage(99, 0x05, "HTTP/1.1 500 Wrong stream\ncontent-length:0\n"));
        await connector.SendAsync(V3Bytes.DataMessage(99, 0x01, "nope"u8));
        await connector.SendAsync(V3Bytes.WindowUpdateMessage(99, 1000));
        await connector.SendAsync(V3Bytes.RstMessage(99, 1011, "no such stream"));
        await connector.SendAsync(V3Bytes.RstMessage(0, 1011, "stream zero"));
        await connector.SendAsync(V3Bytes.RstMessage(-1, 1011, "negative stream"));
        await connector.SendTextAsync("HTTP/1.1 500 Text is meaningless in v3\n");
        await connector.SendAsync([0x00, 0x01, 0x00, 0x00, 0x00]);
        await connector.SendAsync([0x03]);
        await connector.SendAsync([]);

        // The stream carries on; the first thing the router sends is the ack of the real head, so it acknowledged
        // none of the junk (not even the HEADER for id 99).
        await RespondAsync(connector, 1, "ok");
        using var response = await responseTask.DefaultTimeout();
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("ok", await response.Content.ReadAsStringAsync().DefaultTimeout());

        var nextTask = router.Client.GetAsync("/svc/next");
        await AcceptAsync(connector, 2);
        await RespondAsync(connector, 2, "next");
        using var next = await nextTask.DefaultTimeout();
        Assert.Equal("next", await next.Content.ReadAsStringAsync().DefaultTimeout());
    }

    // ---- 9. dispatch (§3.2) ------------------------------------------------------------------------------------

    [Fact]
    public async Task A_connector_with_a_domain_only_gets_requests_for_that_host()
    {
        await using var router = await TestRouter.StartAsync(output);
        await using var connector = await FakeV3Connector.ConnectAndWaitAsync(router, "svc", "api.example.test");

        foreach (var host in new[] { "other.example.test", "example.test", "127.0.0.1" })
        {
            using var wrong = new HttpRequestMessage(HttpMethod.Get, "/svc/x");
            wrong.Headers.Host = host;
            using var notFound = await router.Client.SendAsync(wrong).DefaultTimeout();
            Assert.Equal(HttpStatusCode.NotFound, notFound.StatusCode);
        }

        // The first request the connector ever sees is id 1: none of the above reached it.
        var id = 0;
        foreach (var host in new[] { "api.example.test", "api.example.test:8080" })
        {
            id++;
            using var right = new HttpRequestMessage(HttpMethod.Get, "/svc/x");
            right.Headers.Host = host;
            var responseTask = router.Client.SendAsync(right);
            var head = await AcceptAsync(connector, id);
            Assert.Contains("\nHost:" + host + "\n", head);
            await RespondAsync(connector, id, "api");
            using var response = await responseTask.DefaultTimeout();
            Assert.Equal("api", await response.Content.ReadAsStringAsync().DefaultTimeout());
        }
    }

    [Fact]
    public async Task Cranker_3_and_cranker_1_connectors_on_the_same_route_share_its_requests()
    {
        await using var router = await TestRouter.StartAsync(output);
        await using var v3 = await FakeV3Connector.ConnectAndWaitAsync(router, "mix");
        var v1 = await ConnectV1Async(router, "mix", 0);
        var v1Head = v1.ReceiveAsync();
        int v1Count = 0, v3Count = 0;
        try
        {
            for (var i = 0; i < 40; i++)
            {
                var responseTask = router.Client.GetAsync($"/mix/{i}");
                FakeConnector? used = null;
                var winner = await Task.WhenAny(v1Head, v3.WaitForMessageAsync()).DefaultTimeout();
                string expected;
                if (winner == v1Head)
                {
                    var (type, data) = await v1Head.DefaultTimeout();
                    Assert.Equal(WebSocketMessageType.Text, type);
                    var head = Encoding.UTF8.GetString(data);
                    Assert.StartsWith($"GET /mix/{i} HTTP/1.1\n", head);
                    Assert.EndsWith("\n\n_2", head);
                    await v1.SendTextAsync("HTTP/1.1 200 OK\ncontent-length:2\n");
                    await v1.SendBinaryAsync("v1"u8.ToArray());
                    await v1.Socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "", TestTimeouts.Token()).DefaultTimeout();

                    // A cranker_1.0 socket carries one request: keep one idle so both kinds can serve every request.
                    v1Count++;
                    used = v1;
                    v1 = await ConnectV1Async(router, "mix", v1Count);
                    v1Head = v1.ReceiveAsync();
                    expected = "v1";
                }
                else
                {
                    v3Count++;
                    var head = await AcceptAsync(v3, v3Count);
                    Assert.StartsWith($"GET /mix/{i} HTTP/1.1\n", head);
                    // END_STREAM on a non-empty DATA is accepted too (§5.4).
                    var responseHead = "HTTP/1.1 200 TODO\ncontent-length:2\n";
                    await v3.SendAsync(V3Bytes.HeaderMessage(v3Count, 0x04, responseHead));
                    await v3.ExpectAsync(V3Bytes.WindowUpdateMessage(v3Count, responseHead.Length));
                    await v3.SendAsync(V3Bytes.DataMessage(v3Count, 0x01, "v3"u8));

                    // No acknowledgement for it: the connector forgot the stream when it sent END_STREAM (§5.7). The
                    // next message on this socket, the next request's HEADER, would fail AcceptAsync otherwise.
                    expected = "v3";
                }

                using var response = await responseTask.DefaultTimeout();
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
                Assert.Equal(expected, await response.Content.ReadAsStringAsync().DefaultTimeout());
                if (used is not null)
                {
                    await used.DisposeAsync();
                }
            }
        }
        finally
        {
            await v1.DisposeAsync();
        }

        output.WriteLine($"v1 {v1Count}, v3 {v3Count}");
        Assert.True(v1Count > 0 && v3Count > 0, $"both protocols should get requests: v1 {v1Count}, v3 {v3Count}");
    }

    [Fact]
    public async Task A_specific_route_on_cranker_1_beats_a_catch_all_on_cranker_3()
    {
        await using var router = await TestRouter.StartAsync(output);
        await using var v3 = await FakeV3Connector.ConnectAndWaitAsync(router, "*");

        for (var i = 0; i < 5; i++)
        {
            await using var v1 = await ConnectV1Async(router, "special", i);
            var responseTask = router.Client.GetAsync($"/special/{i}");
            var head = await v1.ReceiveTextAsync();
            Assert.StartsWith($"GET /special/{i} HTTP/1.1\n", head);
            await v1.SendTextAsync("HTTP/1.1 200 OK\ncontent-length:2\n");
            await v1.SendBinaryAsync("v1"u8.ToArray());
            await v1.Socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "", TestTimeouts.Token()).DefaultTimeout();
            using var response = await responseTask.DefaultTimeout();
            Assert.Equal("v1", await response.Content.ReadAsStringAsync().DefaultTimeout());
        }

        // Anything else goes to the catch-all, which sees its first request as id 1: none of the above reached it.
        var otherTask = router.Client.GetAsync("/other/x");
        var otherHead = await AcceptAsync(v3, 1);
        Assert.StartsWith("GET /other/x HTTP/1.1\n", otherHead);
        await RespondAsync(v3, 1, "v3");
        using var other = await otherTask.DefaultTimeout();
        Assert.Equal("v3", await other.Content.ReadAsStringAsync().DefaultTimeout());
    }

    // ---- helpers -----------------------------------------------------------------------------------------------

    /// <summary>Takes a bodiless request's head (one HEADER, flags 0x05, this id) and acknowledges it as a connector does.</summary>
    private static async Task<string> AcceptAsync(FakeV3Connector connector, int id)
    {
        var head = await connector.ReceiveFrameAsync();
        Assert.True(head.Type == V3Bytes.Header && head.Flags == 0x05 && head.Id == id, $"expected HEADER flags 05 id {id}, got {head}");
        await connector.SendAsync(V3Bytes.WindowUpdateMessage(id, head.Payload.Length));
        return head.Text;
    }

    /// <summary>Answers 200 with a content-length body as jconn does: HEADER, DATA, empty DATA+END_STREAM, checking each ack.</summary>
    private static async Task RespondAsync(FakeV3Connector connector, int id, string body)
    {
        var head = $"HTTP/1.1 200 TODO\ncontent-length:{Encoding.UTF8.GetByteCount(body)}\n";
        await connector.SendAsync(V3Bytes.HeaderMessage(id, 0x04, head));
        await connector.ExpectAsync(V3Bytes.WindowUpdateMessage(id, Encoding.UTF8.GetByteCount(head)));
        var bytes = Encoding.UTF8.GetBytes(body);
        if (bytes.Length > 0)
        {
            await connector.SendAsync(V3Bytes.DataMessage(id, 0x00, bytes));
            await connector.ExpectAsync(V3Bytes.WindowUpdateMessage(id, bytes.Length));
        }

        await connector.SendAsync(V3Bytes.EndStream(id));
    }

    /// <summary>
    /// Reads DATA for <paramref name="id"/> into <paramref name="received"/>, acknowledging nothing, until more than
    /// <paramref name="limit"/> bytes are unacknowledged (starting from <paramref name="unacked"/>); returns that count.
    /// </summary>
    private static async Task<long> ReceiveUnacknowledgedAsync(FakeV3Connector connector, int id, long unacked, long limit, Stream received)
    {
        while (unacked <= limit)
        {
            var data = await connector.ReceiveFrameAsync();
            Assert.Equal((V3Bytes.Data, (byte)0x00, id), (data.Type, data.Flags, data.Id));
            Assert.InRange(data.Payload.Length, 1, MaxDataPayload);
            received.Write(data.Payload);
            unacked += data.Payload.Length;
        }

        return unacked;
    }

    /// <summary>Reads DATA for <paramref name="id"/> up to END_STREAM, optionally acknowledging each chunk.</summary>
    private static async Task<byte[]> ReceiveBodyAsync(FakeV3Connector connector, int id, bool acknowledge) =>
        (await ReceiveBodyEndAsync(connector, id, acknowledge)).Body;

    /// <summary>
    /// Reads DATA for <paramref name="id"/> up to END_STREAM, optionally acknowledging each chunk; says whether
    /// END_STREAM came on the last DATA with bytes (a body of known length) or on an empty DATA of its own.
    /// </summary>
    private static async Task<(byte[] Body, bool EndedOnData)> ReceiveBodyEndAsync(FakeV3Connector connector, int id, bool acknowledge)
    {
        using var body = new MemoryStream();
        while (true)
        {
            var bytes = await connector.ReceiveBinaryAsync();
            var data = V3Message.Parse(bytes);
            Assert.True(data.Type == V3Bytes.Data && data.Id == id, $"expected DATA for id {id}, got {data}");
            if (data.Flags == 0x01 && data.Payload.Length == 0)
            {
                // An empty DATA carrying END_STREAM (§5.4): exactly 00 01 <id>.
                Assert.Equal(Convert.ToHexString(V3Bytes.EndStream(id)), Convert.ToHexString(bytes));
                return (body.ToArray(), false);
            }

            if (data.Flags == 0x01)
            {
                // END_STREAM on the last bytes, which every peer accepts (§5.4).
                Assert.InRange(data.Payload.Length, 1, MaxDataPayload);
                body.Write(data.Payload);
                if (acknowledge)
                {
                    await connector.SendAsync(V3Bytes.WindowUpdateMessage(id, data.Payload.Length));
                }

                return (body.ToArray(), true);
            }

            Assert.Equal(0x00, data.Flags);
            Assert.InRange(data.Payload.Length, 1, MaxDataPayload);
            body.Write(data.Payload);
            if (acknowledge)
            {
                await connector.SendAsync(V3Bytes.WindowUpdateMessage(id, data.Payload.Length));
            }
        }
    }

    private static async Task<FakeConnector> ConnectV1Async(TestRouter router, string route, int n)
    {
        var before = router.V1Pool(route)?.IdleCount ?? 0;
        var connector = await FakeConnector.ConnectAsync(router.RegisterUri, route, $"v1-{n}");
        await FakeV3Connector.WaitUntilAsync(() => (router.V1Pool(route)?.IdleCount ?? 0) == before + 1, $"v1 socket for {route} idle");
        return connector;
    }

    private static byte[] RandomBytes(int length)
    {
        var bytes = new byte[length];
        Random.Shared.NextBytes(bytes);
        return bytes;
    }

    /// <summary>Printable ASCII that shows where a cut or a reordering happened.</summary>
    private static string Pattern(int length) => string.Create(length, 0, static (span, _) =>
    {
        for (var i = 0; i < span.Length; i++)
        {
            span[i] = (char)('a' + (i % 26));
        }
    });

    /// <summary>A body of unknown length (so the client sends it chunked), written in pieces.</summary>
    private sealed class ChunkedContent(byte[] data, int piece) : HttpContent
    {
        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context)
        {
            for (var offset = 0; offset < data.Length; offset += piece)
            {
                await stream.WriteAsync(data.AsMemory(offset, Math.Min(piece, data.Length - offset)));
                await stream.FlushAsync();
            }
        }

        protected override bool TryComputeLength(out long length)
        {
            length = 0;
            return false;
        }
    }
}
