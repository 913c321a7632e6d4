using Putsh.Connector.Forwarding;
using Putsh.Protocol.V3;

namespace Putsh.Connector.Tests;

/// <summary>The connector's request body queue: bytes in order, and the acknowledgements it sends as the target reads.</summary>
public sealed class QueuedBodyStreamTests
{
    private static async Task<(byte[] Read, List<int> Acks)> DrainAsync(int window, IReadOnlyList<byte[]> chunks, int readSize)
    {
        var acks = new List<int>();
        using var body = new QueuedBodyStream((n, _) => { acks.Add(n); return ValueTask.CompletedTask; }, window);
        for (var i = 0; i < chunks.Count; i++)
        {
            Assert.True(body.Enqueue(new V3Payload(chunks[i]), endStream: i == chunks.Count - 1));
        }

        using var read = new MemoryStream();
        await body.CopyToAsync(read, readSize).WaitAsync(TimeSpan.FromSeconds(30));
        return (read.ToArray(), acks);
    }

    private static List<byte[]> Chunks(int count, int size) =>
        [.. Enumerable.Range(0, count).Select(i => Enumerable.Range(0, size).Select(j => (byte)(i * 7 + j)).ToArray())];

    [Fact]
    public async Task With_the_plain_window_each_chunk_is_acknowledged_with_its_length_once_read()
    {
        var chunks = Chunks(8, 65536);
        var (read, acks) = await DrainAsync(V3Frame.HighWatermark, chunks, 10_000);
        Assert.Equal(chunks.SelectMany(c => c).ToArray(), read);
        Assert.Equal(Enumerable.Repeat(65536, 8), acks);
    }

    [Fact]
    public async Task With_a_1_MiB_window_acknowledgements_are_batched_by_a_quarter_and_the_rest_goes_when_the_queue_empties()
    {
        var chunks = Chunks(9, 65536);
        var (read, acks) = await DrainAsync(1024 * 1024, chunks, 65536);
        Assert.Equal(chunks.SelectMany(c => c).ToArray(), read);
        Assert.Equal([262144, 262144, 65536], acks);
    }
}
