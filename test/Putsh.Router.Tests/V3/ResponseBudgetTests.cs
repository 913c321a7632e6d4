using System.Buffers.Binary;
using Putsh.Tests.Common;
using Xunit.Abstractions;

namespace Putsh.Router.Tests.V3;

/// <summary>
/// Past the router's response budget, a stream with a 1 MiB flow window acknowledges only enough to keep itself
/// within 64 KiB; within the budget it acknowledges everything it writes. Counted in the acknowledgements a
/// hand-driven connector receives, up to the next request's HEADER on the same socket (which comes after them).
/// </summary>
public sealed class ResponseBudgetTests(ITestOutputHelper output)
{
    private const int Window = 1024 * 1024;
    private const int Piece = 65_000;
    private const int Pieces = 16; // 1,040,000 bytes: within the window, sent without waiting for any acknowledgement

    private async Task<long> AcknowledgedAsync(long budget)
    {
        await using var router = await TestRouter.StartAsync(output, o => o.MaxBufferedResponseBytes = budget);
        await using var connector = await FakeV3Connector.ConnectAndWaitAsync(router, "svc", extensions: $"flow-window={Window}, no-head-ack");
        Assert.Contains($"flow-window={Window}", connector.AnsweredExtensions, StringComparison.Ordinal);

        var call = router.Client.GetAsync("/svc/big");
        var head = await connector.ReceiveFrameAsync();
        Assert.Equal(V3Bytes.Header, head.Type);
        await connector.SendAsync(V3Bytes.HeaderMessage(head.Id, 0x04, $"HTTP/1.1 200 OK\ncontent-length:{Piece * Pieces}\n"));
        for (var i = 0; i < Pieces; i++)
        {
            await connector.SendAsync(V3Bytes.DataMessage(head.Id, i == Pieces - 1 ? (byte)0x01 : (byte)0x00, new byte[Piece]));
        }

        using (var response = await call.DefaultTimeout())
        {
            Assert.Equal(Piece * Pieces, (await response.Content.ReadAsByteArrayAsync().DefaultTimeout()).Length);
        }

        var next = router.Client.GetAsync("/svc/next");
        long acknowledged = 0;
        while (true)
        {
            var frame = await connector.ReceiveFrameAsync();
            if (frame.Type == V3Bytes.Header)
            {
                await connector.SendAsync(V3Bytes.HeaderMessage(frame.Id, 0x05, "HTTP/1.1 204 No Content\n"));
                break;
            }

            if (frame.Type == V3Bytes.WindowUpdate && frame.Id == head.Id)
            {
                acknowledged += BinaryPrimitives.ReadInt32BigEndian(frame.Payload);
            }
        }

        (await next.DefaultTimeout()).Dispose();
        return acknowledged;
    }

    [Fact]
    public async Task Within_the_budget_bytes_written_to_the_client_are_acknowledged_in_quarter_window_batches()
    {
        // Batches of at least a quarter window (256 KiB); the last piece carries END_STREAM and is never acknowledged
        // (§5.7), nor is a batch it leaves unfinished.
        Assert.InRange(await AcknowledgedAsync(budget: 64 * 1024 * 1024), Window / 2, Piece * (Pieces - 1));
    }

    [Fact]
    public async Task Past_the_budget_a_large_window_is_held_to_64_KiB()
    {
        var acknowledged = await AcknowledgedAsync(budget: 0); // a budget of 0 is always used up

        // The connector may still send window - (sent - acknowledged); held to 64 KiB that allows at most
        // sent - window + 64 KiB acknowledged, here 1,040,000 - 1,048,576 + 65,536 = 56,960.
        Assert.InRange(acknowledged, 0, (Piece * Pieces) - Window + (64 * 1024));
    }
}
