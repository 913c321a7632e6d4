using System.Diagnostics;
using System.Net;
using System.Net.WebSockets;
using Putsh.Tests.Common;
using Xunit.Abstractions;

namespace Putsh.Router.Tests.V3;

/// <summary>
/// A cranker_3.0 connector that sends too much: too many streams at once on a socket, a message past the size limit,
/// a stream of messages for streams the router does not have. The offending socket goes; the router and its other
/// sockets carry on, and what the socket held is let go.
/// </summary>
[Collection(nameof(ResourceCountingCollection))]
public sealed class AbusiveConnectorTests(ITestOutputHelper output)
{
    private static async Task AnswerAsync(TestRouter router, FakeV3Connector connector, string path)
    {
        var call = router.Client.GetAsync(path);
        var head = await connector.ReceiveFrameAsync(V3Bytes.Header);
        await connector.SendAsync(V3Bytes.HeaderMessage(head.Id, 0x04, "HTTP/1.1 200 OK\ncontent-length:2\n"));
        await connector.SendAsync(V3Bytes.DataMessage(head.Id, 0x01, "ok"u8));
        using var response = await call.DefaultTimeout();
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public async Task A_socket_at_its_stream_limit_takes_no_more_requests()
    {
        await using var router = await TestRouter.StartAsync(output, o => o.MaxStreamsPerSocket = 2);
        await using var connector = await FakeV3Connector.ConnectAndWaitAsync(router, "svc");
        var first = router.Client.GetAsync("/svc/1");
        var second = router.Client.GetAsync("/svc/2");
        var a = await connector.ReceiveFrameAsync(V3Bytes.Header);
        var b = await connector.ReceiveFrameAsync(V3Bytes.Header);

        using (var third = await router.Client.GetAsync("/svc/3").DefaultTimeout())
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, third.StatusCode);
        }

        foreach (var id in new[] { a.Id, b.Id })
        {
            await connector.SendAsync(V3Bytes.HeaderMessage(id, 0x05, "HTTP/1.1 204 No Content\n"));
        }

        Assert.Equal(HttpStatusCode.NoContent, (await first.DefaultTimeout()).StatusCode);
        Assert.Equal(HttpStatusCode.NoContent, (await second.DefaultTimeout()).StatusCode);
        await AnswerAsync(router, connector, "/svc/after");
    }

    [Theory]
    [InlineData("message too big", WebSocketCloseStatus.MessageTooBig)]
    [InlineData("stray messages", WebSocketCloseStatus.ProtocolError)]
    public async Task The_offending_socket_is_closed_its_request_gets_502_and_another_socket_carries_on(string what, WebSocketCloseStatus expected)
    {
        await using var router = await TestRouter.StartAsync(output, o =>
        {
            o.MaxConnectorMessageSize = 70_000;
            o.MaxStrayMessages = 5;
        });
        await using var bad = await FakeV3Connector.ConnectAndWaitAsync(router, "svc", instanceId: "bad");
        var call = router.Client.GetAsync("/svc/x");
        var head = await bad.ReceiveFrameAsync(V3Bytes.Header);
        await using var good = await FakeV3Connector.ConnectAndWaitAsync(router, "svc", instanceId: "good");

        if (what == "message too big")
        {
            await bad.SendAsync(V3Bytes.DataMessage(head.Id, 0x00, new byte[100_000]));
        }
        else
        {
            for (var i = 0; i < 6; i++)
            {
                await bad.SendAsync(V3Bytes.DataMessage(999, 0x00, "stray"u8));
            }
        }

        using var response = await call.DefaultTimeout();
        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
        await bad.ExpectCloseAsync();
        Assert.Equal(expected, bad.Socket.CloseStatus);
        await FakeV3Connector.WaitUntilAsync(() => FakeV3Connector.V3Count(router, "*", "svc") == 1, "the bad socket to leave the pool");
        await AnswerAsync(router, good, "/svc/next");
    }

    [Fact]
    public async Task Sockets_closed_for_oversized_messages_leave_no_file_descriptors_or_memory_behind()
    {
        await using var router = await TestRouter.StartAsync(output, o => o.MaxConnectorMessageSize = 70_000);
        await using var good = await FakeV3Connector.ConnectAndWaitAsync(router, "svc", instanceId: "good");
        await AnswerAsync(router, good, "/svc/warm");

        static int OpenFiles() => Directory.GetFiles("/proc/self/fd").Length;
        static long Managed()
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
            GC.Collect();
            return GC.GetTotalMemory(forceFullCollection: true);
        }

        const int Rounds = 40;
        async Task AbuseAsync()
        {
            for (var i = 0; i < Rounds; i++)
            {
                await using var bad = await FakeV3Connector.ConnectAndWaitAsync(router, "abuse", instanceId: $"bad-{i}");
                await bad.SendAsync(V3Bytes.DataMessage(1, 0x00, new byte[100_000]));
                await bad.ExpectCloseAsync();
                await bad.Socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "", TestTimeouts.Token()).DefaultTimeout();
                await FakeV3Connector.WaitUntilAsync(() => FakeV3Connector.V3Count(router, "*", "abuse") == 0, "the bad socket to leave");
            }
        }

        await AbuseAsync(); // the first round grows pools and caches to their working size
        var files = OpenFiles();
        var memory = Managed();
        var watch = Stopwatch.StartNew();
        await AbuseAsync();
        var filesAfter = OpenFiles();
        var memoryAfter = Managed();
        output.WriteLine($"{Rounds} oversized-message sockets in {watch.ElapsedMilliseconds} ms: open files {files} -> {filesAfter}, managed heap {memory / 1024} KiB -> {memoryAfter / 1024} KiB");

        Assert.InRange(filesAfter, 0, files + 4);
        Assert.InRange(memoryAfter, 0, memory + (4 * 1024 * 1024));
        await AnswerAsync(router, good, "/svc/still");
    }
}

/// <summary>Tests that count the process's open files and memory run alone.</summary>
[CollectionDefinition(nameof(ResourceCountingCollection), DisableParallelization = true)]
public sealed class ResourceCountingCollection;
