using Putsh.Protocol.V3;

namespace Putsh.Protocol.Tests;

/// <summary>A stream's inbound DATA read as a Stream (the connector's request body): bytes in order, the acknowledgements sent as the target reads, and the end.</summary>
public sealed class V3InboundStreamTests
{
    private static async Task<(byte[] Read, List<int> Acks)> DrainAsync(int window, IReadOnlyList<byte[]> chunks, int readSize)
    {
        var acks = new List<int>();
        using var body = new V3InboundStream(new V3Inbound(window), acks.Add);
        for (var i = 0; i < chunks.Count; i++)
        {
            Assert.True(body.Inbound.TryEnqueue(new V3Payload(chunks[i]), endStream: i == chunks.Count - 1));
        }

        // ReadAsync, as the in-process handler reads; the target call copies instead (below).
        using var read = new MemoryStream();
        var buffer = new byte[readSize];
        int n;
        while ((n = await body.ReadAsync(buffer).AsTask().WaitAsync(TimeSpan.FromSeconds(30))) > 0)
        {
            read.Write(buffer, 0, n);
        }

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

    [Fact]
    public async Task Copying_writes_each_chunk_whole_and_flushes_whenever_the_queue_is_empty()
    {
        var acks = new List<int>();
        using var body = new V3InboundStream(new V3Inbound(V3Frame.HighWatermark), acks.Add);
        var target = new RecordingStream();
        var chunks = Chunks(3, 16);
        Assert.True(body.Inbound.TryEnqueue(new V3Payload(chunks[0]), endStream: false));
        Assert.True(body.Inbound.TryEnqueue(new V3Payload(chunks[1]), endStream: false));

        var copy = body.CopyToAsync(target);

        // The two chunks already queued go out together, then one flush.
        Assert.Equal("write 16", await target.Events.Reader.ReadAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(30)));
        Assert.Equal("write 16", await target.Events.Reader.ReadAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(30)));
        Assert.Equal("flush", await target.Events.Reader.ReadAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(30)));

        // A chunk that arrives later is flushed on its own, before the body ends.
        Assert.True(body.Inbound.TryEnqueue(new V3Payload(chunks[2]), endStream: false));
        Assert.Equal("write 16", await target.Events.Reader.ReadAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(30)));
        Assert.Equal("flush", await target.Events.Reader.ReadAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(30)));

        // The end of the body is the handler's to flush.
        Assert.True(body.Inbound.TryEnqueue(default, endStream: true));
        await copy.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.False(target.Events.Reader.TryRead(out _));
        Assert.Equal(chunks.SelectMany(c => c).ToArray(), target.Written.ToArray());
        Assert.Equal([16, 16, 16], acks);
    }

    [Fact]
    public async Task A_reset_fails_the_read_after_the_bytes_queued_before_it_and_a_payload_past_the_window_is_refused()
    {
        var acks = new List<int>();
        using var body = new V3InboundStream(new V3Inbound(V3Frame.HighWatermark), acks.Add);
        Assert.True(body.Inbound.TryEnqueue(new V3Payload(new byte[] { 1, 2, 3 }), endStream: false));
        Assert.False(body.Inbound.TryEnqueue(new V3Payload(new byte[FlowWindow.OverrunLimit(V3Frame.HighWatermark)]), endStream: false));
        body.Inbound.End(V3InboundEnd.Reset, 1011, "gone");
        body.Inbound.End(V3InboundEnd.SessionEnded); // the first end counts

        var buffer = new byte[16];
        Assert.Equal(3, await body.ReadAsync(buffer).AsTask().WaitAsync(TimeSpan.FromSeconds(30)));
        await Assert.ThrowsAsync<OperationCanceledException>(() => body.ReadAsync(buffer).AsTask().WaitAsync(TimeSpan.FromSeconds(30)));
        Assert.Equal((V3InboundEnd.Reset, 1011, "gone"), (body.Inbound.Ending, body.Inbound.EndCode, body.Inbound.EndText));
        Assert.Equal([3], acks);
        Assert.Equal(0, body.Inbound.Queued);
    }

    [Fact]
    public void Disposing_gives_back_every_queued_byte_and_counts_them_out_of_the_shared_budget()
    {
        var budget = new InboundBudget(1 << 20);
        var inbound = new V3Inbound(V3Frame.HighWatermark, budget);
        Assert.True(inbound.TryEnqueue(new V3Payload(new byte[4000]), endStream: false));
        Assert.True(inbound.TryEnqueue(new V3Payload(new byte[2000]), endStream: false));
        Assert.Equal(6000, budget.Held);

        inbound.Dispose();
        Assert.Equal((0L, 0L), (inbound.Queued, budget.Held));
        Assert.Equal(V3InboundEnd.Abandoned, inbound.Ending);
        Assert.True(inbound.TryEnqueue(new V3Payload(new byte[10]), endStream: false)); // after the end: dropped
        Assert.Equal((0L, 0L), (inbound.Queued, budget.Held));
    }

    /// <summary>Records writes and flushes in order.</summary>
    private sealed class RecordingStream : Stream
    {
        public System.Threading.Channels.Channel<string> Events { get; } = System.Threading.Channels.Channel.CreateUnbounded<string>();

        public MemoryStream Written { get; } = new();

        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            Written.Write(buffer.Span);
            Events.Writer.TryWrite($"write {buffer.Length}");
            return ValueTask.CompletedTask;
        }

        public override Task FlushAsync(CancellationToken cancellationToken)
        {
            Events.Writer.TryWrite("flush");
            return Task.CompletedTask;
        }

        public override bool CanRead => false;

        public override bool CanSeek => false;

        public override bool CanWrite => true;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override void Flush() => FlushAsync(CancellationToken.None).GetAwaiter().GetResult();

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => WriteAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();
    }
}
