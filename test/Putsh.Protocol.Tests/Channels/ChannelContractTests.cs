using System.Collections.Concurrent;
using Putsh.Protocol.Channels;

namespace Putsh.Protocol.Tests.Channels;

/// <summary>
/// The Channel contract, clause by clause, against <see cref="ChannelCore"/> with a transport the test controls.
/// (The same clauses run end to end through routers and connectors in Putsh.FunctionalTests.)
/// </summary>
public sealed class ChannelContractTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);

    /// <summary>A transport that records what it is asked to write and can be held still, like a slow peer.</summary>
    private sealed class RecordingChannel(bool isWebSocket = false, long maxQueuedBytes = ChannelCore.DefaultMaxQueuedBytes) : ChannelCore(isWebSocket, maxQueuedBytes)
    {
        private TaskCompletionSource _gate = CreateOpenGate();

        public ConcurrentQueue<(ChannelData Data, bool First)> Written { get; } = new();

        public TaskCompletionSource<(bool Graceful, bool AnythingSent)> Completed { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public void Hold() => _gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        public void Release() => _gate.TrySetResult();

        public void PeerCloses(ChannelCloseStatus status) => ClosedByPeer(status);

        public void Receive(ChannelMessage message) => Deliver(message);

        protected override async ValueTask WriteAsync(ChannelData data, bool first, CancellationToken cancellationToken)
        {
            await _gate.Task.WaitAsync(cancellationToken);
            Written.Enqueue((data, first));
        }

        protected override ValueTask CompleteAsync(bool graceful, bool anythingSent)
        {
            Completed.TrySetResult((graceful, anythingSent));
            return ValueTask.CompletedTask;
        }

        private static TaskCompletionSource CreateOpenGate()
        {
            var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            gate.SetResult();
            return gate;
        }
    }

    /// <summary>Pooled memory that records when it is given back.</summary>
    private sealed class Owner(int size) : System.Buffers.IMemoryOwner<byte>
    {
        public int Disposals;

        public Memory<byte> Memory { get; } = new byte[size];

        public void Dispose() => Interlocked.Increment(ref Disposals);
    }

    [Fact]
    public async Task SendAsync_waits_while_a_quarter_of_the_limit_is_queued_and_never_overflows_the_queue()
    {
        var channel = new RecordingChannel(maxQueuedBytes: 4096);
        channel.Hold();
        Assert.True(await channel.SendAsync(ChannelData.Bytes(new byte[512])).AsTask().WaitAsync(Timeout));
        Assert.True(await channel.SendAsync(ChannelData.Bytes(new byte[512])).AsTask().WaitAsync(Timeout));
        var third = channel.SendAsync(ChannelData.Bytes(new byte[512])).AsTask();
        Assert.False(third.IsCompleted);

        channel.Release();
        Assert.True(await third.WaitAsync(Timeout));
        for (var i = 0; i < 100; i++)
        {
            // A producer that waits can send far more than the limit without the channel closing on it.
            Assert.True(await channel.SendAsync(ChannelData.Bytes(new byte[1024])).AsTask().WaitAsync(Timeout));
        }

        Assert.True(channel.IsOpen);
        channel.Close();
        await channel.Completion.WaitAsync(Timeout);
        Assert.Equal(103, channel.Written.Count);
    }

    [Fact]
    public async Task Abort_before_any_send_ends_the_exchange_as_failed_with_nothing_written()
    {
        var channel = new RecordingChannel();
        ChannelCloseStatus? closed = null;
        channel.OnClose(s => closed = s);
        var completion = channel.Completion;
        Assert.False(completion.IsCompleted);

        channel.Abort();
        Assert.Equal((false, false), await channel.Completed.Task.WaitAsync(Timeout));
        await completion.WaitAsync(Timeout);
        Assert.Equal(ChannelCloseStatus.ServerClose, closed);
        Assert.False(channel.IsOpen);
        Assert.Empty(channel.Written);
        Assert.False(channel.Send(ChannelData.Text("late")));
        channel.Abort();
    }

    [Fact]
    public async Task Abort_after_a_send_writes_what_was_sent_then_fails_the_exchange_and_gives_pooled_memory_back()
    {
        var channel = new RecordingChannel();
        channel.Hold();
        var head = new Owner(16);
        var body = new Owner(16);
        var refused = new Owner(16);
        Assert.True(channel.Send(ChannelData.Response(200, null, head, 16)));
        Assert.True(channel.Send(ChannelData.Bytes(body, 8)));
        channel.Abort();
        Assert.False(channel.Send(ChannelData.Bytes(refused, 4)));
        channel.Release();

        // Written in order, then no clean end: the peer sees a response cut off.
        Assert.Equal((false, true), await channel.Completed.Task.WaitAsync(Timeout));
        Assert.Equal(2, channel.Written.Count);
        Assert.Equal((1, 1, 1), (head.Disposals, body.Disposals, refused.Disposals));
    }

    [Fact]
    public async Task Pooled_memory_goes_back_once_written_and_the_bytes_written_are_the_pooled_ones()
    {
        var channel = new RecordingChannel();
        var owner = new Owner(32);
        "pooled body"u8.CopyTo(owner.Memory.Span);
        Assert.True(channel.Send(ChannelData.Bytes(owner, 11)));
        channel.Close();
        await channel.Completion.WaitAsync(Timeout);
        Assert.Equal(1, owner.Disposals);
        Assert.True(channel.Written.TryDequeue(out var item));
        Assert.Equal("pooled body", System.Text.Encoding.UTF8.GetString(item.Data.Body.Span));
    }

    [Fact]
    public async Task Close_is_idempotent_and_true_only_the_first_time()
    {
        var channel = new RecordingChannel();
        Assert.True(channel.IsOpen);
        Assert.True(channel.Close());
        Assert.False(channel.Close());
        Assert.False(channel.IsOpen);
        Assert.Equal((true, false), await channel.Completed.Task.WaitAsync(Timeout));
    }

    [Fact]
    public async Task Send_after_close_returns_false_and_writes_nothing()
    {
        var channel = new RecordingChannel();
        Assert.True(channel.Send(ChannelData.Text("before")));
        channel.Close();
        Assert.False(channel.Send(ChannelData.Text("after")));
        await channel.Completion.WaitAsync(Timeout);
        Assert.Single(channel.Written);
    }

    [Fact]
    public async Task Close_after_sends_writes_everything_queued_first()
    {
        var channel = new RecordingChannel();
        channel.Hold();
        for (var i = 0; i < 50; i++)
        {
            Assert.True(channel.Send(ChannelData.Text(i.ToString())));
        }

        channel.Close();
        channel.Release();
        Assert.Equal((true, true), await channel.Completed.Task.WaitAsync(Timeout));
        Assert.Equal(Enumerable.Range(0, 50).Select(i => i.ToString()), channel.Written.Select(w => System.Text.Encoding.UTF8.GetString(w.Data.Body.Span)));
        Assert.True(channel.Written.First().First);
        Assert.Single(channel.Written, w => w.First);
    }

    [Fact]
    public async Task The_close_handler_runs_once_even_when_both_sides_close_at_once()
    {
        for (var round = 0; round < 200; round++)
        {
            var channel = new RecordingChannel();
            var calls = new ConcurrentBag<ChannelCloseStatus>();
            channel.OnClose(calls.Add);
            channel.OnClose(calls.Add);
            using var start = new ManualResetEventSlim();
            var a = Task.Run(() =>
            {
                start.Wait();
                return channel.Close();
            });
            var b = Task.Run(() =>
            {
                start.Wait();
                channel.PeerCloses(ChannelCloseStatus.GoingAway);
            });
            start.Set();
            await Task.WhenAll(a, b).WaitAsync(Timeout);
            await channel.Completion.WaitAsync(Timeout);
            Assert.Equal(2, calls.Count); // two handlers, each exactly once
            Assert.Single(calls.Distinct());
        }
    }

    [Fact]
    public async Task A_close_handler_added_after_the_close_runs_at_once_with_the_status()
    {
        var channel = new RecordingChannel();
        channel.PeerCloses(ChannelCloseStatus.ClientClose);
        await channel.Completion.WaitAsync(Timeout);
        ChannelCloseStatus? seen = null;
        channel.OnClose(s => seen = s);
        Assert.Equal(ChannelCloseStatus.ClientClose, seen);
        Assert.False(channel.IsOpen);
        Assert.False(channel.Send(ChannelData.Text("late")));
    }

    [Fact]
    public async Task Our_close_reports_ServerClose()
    {
        var channel = new RecordingChannel();
        var status = new TaskCompletionSource<ChannelCloseStatus>();
        channel.OnClose(s => status.TrySetResult(s));
        channel.Close();
        Assert.Equal(ChannelCloseStatus.ServerClose, await status.Task.WaitAsync(Timeout));
    }

    [Fact]
    public async Task Concurrent_senders_each_see_their_own_sends_stay_in_order()
    {
        var channel = new RecordingChannel();
        var senders = Enumerable.Range(0, 8).Select(s => Task.Run(() =>
        {
            for (var i = 0; i < 500; i++)
            {
                Assert.True(channel.Send(ChannelData.Text($"{s}:{i}")));
            }
        })).ToArray();
        await Task.WhenAll(senders).WaitAsync(Timeout);
        channel.Close();
        await channel.Completion.WaitAsync(Timeout);

        var texts = channel.Written.Select(w => System.Text.Encoding.UTF8.GetString(w.Data.Body.Span)).ToList();
        Assert.Equal(4000, texts.Count);
        foreach (var group in texts.Select(t => t.Split(':')).GroupBy(p => p[0]))
        {
            Assert.Equal(Enumerable.Range(0, 500), group.Select(p => int.Parse(p[1])));
        }
    }

    [Fact]
    public async Task Sends_never_block_and_a_slow_peer_closes_the_channel_at_the_limit()
    {
        var channel = new RecordingChannel(maxQueuedBytes: 64 * 1024);
        channel.Hold(); // the peer reads nothing
        var status = new TaskCompletionSource<ChannelCloseStatus>(TaskCreationOptions.RunContinuationsAsynchronously);
        channel.OnClose(s => status.TrySetResult(s));
        var chunk = new byte[1024];
        var accepted = 0;
        var started = Environment.TickCount64;
        while (channel.Send(ChannelData.Bytes(chunk)))
        {
            accepted++;
            Assert.True(accepted <= 64, "the queue grew past its limit");
        }

        Assert.True(Environment.TickCount64 - started < 5000, "sends blocked");
        Assert.Equal(64, accepted);
        Assert.False(channel.IsOpen);
        Assert.Equal(ChannelCloseStatus.ServerClose, await status.Task.WaitAsync(Timeout));
    }

    [Fact]
    public void Received_messages_reach_every_handler_in_order_including_those_before_the_handler()
    {
        var channel = new RecordingChannel(isWebSocket: true);
        channel.Receive(ChannelMessage.Utf8Text("early"u8.ToArray()));
        var first = new List<string>();
        var second = new List<string>();
        channel.OnReceive(m => first.Add(m.Text));
        channel.OnReceive(m => second.Add(m.IsText ? m.Text : "bin:" + m.Data.Length));
        for (var i = 0; i < 100; i++)
        {
            channel.Receive(i % 2 == 0 ? ChannelMessage.Utf8Text(System.Text.Encoding.UTF8.GetBytes(i.ToString())) : ChannelMessage.Binary(new byte[i]));
        }

        Assert.True(channel.IsWebSocket);
        Assert.Equal(101, first.Count);
        Assert.Equal("early", first[0]);
        Assert.Equal("0", first[1]);
        Assert.Equal("bin:1", second[1]);
        Assert.Equal(100, second.Count);
    }
}
