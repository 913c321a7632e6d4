using System.Net.WebSockets;
using System.Text;
using Microsoft.Extensions.Time.Testing;
using Putsh.Protocol.Transport;

namespace Putsh.Protocol.Tests;

public class SendGateTests
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(10);

    // ---- over a real WebSocket pair ----

    [Theory]
    [InlineData("héllo wörld €😀")]
    [InlineData("_3")]
    [InlineData("")]
    public async Task SendTextAsync_DeliversOneCompleteTextMessage_WithExactUtf8Bytes(string text)
    {
        using var pair = new InMemoryWebSocketPair();
        using var gate = new SendGate(pair.Server);
        using var cts = new CancellationTokenSource(s_timeout);
        var receiving = InMemoryWebSocketPair.ReceiveAllAsync(pair.Client, cts.Token);

        await gate.SendTextAsync(text, cts.Token).AsTask().WaitAsync(s_timeout);
        await gate.CloseAsync(WebSocketCloseStatus.NormalClosure, "done", s_timeout, TimeProvider.System).WaitAsync(s_timeout);
        var messages = await receiving.WaitAsync(s_timeout);

        Assert.Equal(2, messages.Count);
        Assert.Equal(WebSocketMessageType.Text, messages[0].Type);
        Assert.Equal(Encoding.UTF8.GetBytes(text), messages[0].Data);
        Assert.Equal(WebSocketMessageType.Close, messages[1].Type);
        Assert.Equal(WebSocketCloseStatus.NormalClosure, messages[1].CloseStatus);
        Assert.Equal("done", messages[1].CloseReason);
    }

    [Fact]
    public async Task SendTextAsync_LargerThanPipeBuffer_ArrivesWholeAndExact()
    {
        // ~300 KB, well past the pipes' 64 KiB back-pressure threshold, with 1- to 4-byte UTF-8 characters.
        var text = string.Concat(Enumerable.Range(0, 12_000).Select(i => $"{i}:é€😀;"));
        using var pair = new InMemoryWebSocketPair();
        using var gate = new SendGate(pair.Server);
        using var cts = new CancellationTokenSource(s_timeout);
        var receiving = InMemoryWebSocketPair.ReceiveAllAsync(pair.Client, cts.Token);

        await gate.SendTextAsync(text, cts.Token).AsTask().WaitAsync(s_timeout);
        await gate.CloseAsync(WebSocketCloseStatus.NormalClosure, null, s_timeout, TimeProvider.System).WaitAsync(s_timeout);
        var messages = await receiving.WaitAsync(s_timeout);

        Assert.Equal(2, messages.Count);
        Assert.Equal(WebSocketMessageType.Text, messages[0].Type);
        Assert.Equal(Encoding.UTF8.GetBytes(text), messages[0].Data);
        Assert.Equal(text, Encoding.UTF8.GetString(messages[0].Data));
        Assert.Equal(WebSocketMessageType.Close, messages[1].Type);
    }

    [Fact]
    public async Task SendAsync_Binary_DeliversOneCompleteBinaryMessage()
    {
        var data = Enumerable.Range(0, 100_000).Select(i => (byte)(i * 7)).ToArray();
        using var pair = new InMemoryWebSocketPair();
        using var gate = new SendGate(pair.Server);
        using var cts = new CancellationTokenSource(s_timeout);
        var receiving = InMemoryWebSocketPair.ReceiveAllAsync(pair.Client, cts.Token);

        await gate.SendAsync(data, WebSocketMessageType.Binary, cts.Token).AsTask().WaitAsync(s_timeout);
        await gate.SendAsync(data.AsMemory(10, 5), WebSocketMessageType.Binary, cts.Token).AsTask().WaitAsync(s_timeout);
        await gate.CloseAsync(WebSocketCloseStatus.NormalClosure, null, s_timeout, TimeProvider.System).WaitAsync(s_timeout);
        var messages = await receiving.WaitAsync(s_timeout);

        Assert.Equal(3, messages.Count);
        Assert.Equal(WebSocketMessageType.Binary, messages[0].Type);
        Assert.Equal(data, messages[0].Data);
        Assert.Equal(WebSocketMessageType.Binary, messages[1].Type);
        Assert.Equal(data[10..15], messages[1].Data);
        Assert.Equal(WebSocketMessageType.Close, messages[2].Type);
    }

    [Fact]
    public async Task ConcurrentSends_FromManyTasks_EachArriveAsWholeMessages()
    {
        const int senders = 8;
        const int perSender = 12;
        using var pair = new InMemoryWebSocketPair();
        using var gate = new SendGate(pair.Server);
        using var cts = new CancellationTokenSource(s_timeout);
        var receiving = Task.Run(() => InMemoryWebSocketPair.ReceiveAllAsync(pair.Client, cts.Token));
        var start = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        var sending = Enumerable.Range(0, senders).Select(s => Task.Run(async () =>
        {
            await start.Task;
            for (var m = 0; m < perSender; m++)
            {
                var payload = Payload(s, m);
                if (IsText(m))
                {
                    await gate.SendTextAsync(payload, cts.Token);
                }
                else
                {
                    await gate.SendAsync(Encoding.ASCII.GetBytes(payload), WebSocketMessageType.Binary, cts.Token);
                }
            }
        })).ToArray();
        start.SetResult();

        await Task.WhenAll(sending).WaitAsync(s_timeout);
        await gate.CloseAsync(WebSocketCloseStatus.NormalClosure, null, s_timeout, TimeProvider.System).WaitAsync(s_timeout);
        var messages = await receiving.WaitAsync(s_timeout);

        Assert.Equal(WebSocketMessageType.Close, messages[^1].Type);
        var dataMessages = messages[..^1];
        Assert.Equal(senders * perSender, dataMessages.Count);
        var nextExpected = new int[senders];
        foreach (var message in dataMessages)
        {
            var text = Encoding.ASCII.GetString(message.Data);
            var parts = text.Split(':', 3);
            Assert.Equal(3, parts.Length);
            var s = int.Parse(parts[0], System.Globalization.CultureInfo.InvariantCulture);
            var m = int.Parse(parts[1], System.Globalization.CultureInfo.InvariantCulture);

            // Whole and not interleaved: byte-for-byte the payload that sender s sent as its message m.
            Assert.Equal(Payload(s, m), text);
            Assert.Equal(IsText(m) ? WebSocketMessageType.Text : WebSocketMessageType.Binary, message.Type);

            // Each sender's own messages keep their order, and none is lost or duplicated.
            Assert.Equal(nextExpected[s], m);
            nextExpected[s]++;
        }

        Assert.All(nextExpected, n => Assert.Equal(perSender, n));
    }

    [Fact]
    public async Task CloseAsync_OverRealSocket_SendsCloseFrameWithTruncatedReason()
    {
        var reason = string.Concat(Enumerable.Repeat("connector stop because ", 10));
        using var pair = new InMemoryWebSocketPair();
        using var gate = new SendGate(pair.Server);
        using var cts = new CancellationTokenSource(s_timeout);
        var receiving = InMemoryWebSocketPair.ReceiveAllAsync(pair.Client, cts.Token);

        await gate.CloseAsync(WebSocketCloseStatus.EndpointUnavailable, reason, s_timeout, TimeProvider.System).WaitAsync(s_timeout);
        var messages = await receiving.WaitAsync(s_timeout);

        var close = Assert.Single(messages);
        Assert.Equal(WebSocketMessageType.Close, close.Type);
        Assert.Equal(WebSocketCloseStatus.EndpointUnavailable, close.CloseStatus);
        Assert.Equal(WebSocketClose.TruncateReason(reason), close.CloseReason);
        Assert.Equal(WebSocketState.CloseSent, pair.Server.State);
    }

    private static bool IsText(int m) => m % 3 == 0;

    private static string Payload(int sender, int message)
    {
        // Sizes from a few bytes to ~40 KB so that sends take several pipe writes and overlap.
        var length = (((sender * 31) + (message * 17)) * 997 % 40_000) + 1;
        return $"{sender}:{message}:" + new string((char)('a' + sender), length);
    }

    // ---- with a hand-driven socket: mutual exclusion and ordering, deterministically ----

    [Fact]
    public async Task SendAsync_SendsOneWholeFrameWithTheGivenType()
    {
        using var socket = new ProbeWebSocket();
        using var gate = new SendGate(socket);

        await gate.SendAsync(new byte[] { 1, 2, 3 }, WebSocketMessageType.Binary, CancellationToken.None).AsTask().WaitAsync(s_timeout);

        var frame = Assert.Single(socket.Sends);
        Assert.Equal(new byte[] { 1, 2, 3 }, frame.Data);
        Assert.Equal(WebSocketMessageType.Binary, frame.Type);
        Assert.True(frame.EndOfMessage);
        Assert.Same(socket, gate.Socket);
    }

    [Fact]
    public async Task SendTextAsync_SendsExactlyTheEncodedBytes_NotThePooledBuffer()
    {
        using var socket = new ProbeWebSocket();
        using var gate = new SendGate(socket);
        const string text = "GET / HTTP/1.1\nhost:é\n\n_2";

        await gate.SendTextAsync(text, CancellationToken.None).AsTask().WaitAsync(s_timeout);

        var frame = Assert.Single(socket.Sends);
        Assert.Equal(Encoding.UTF8.GetBytes(text), frame.Data);
        Assert.Equal(WebSocketMessageType.Text, frame.Type);
        Assert.True(frame.EndOfMessage);
    }

    [Fact]
    public async Task SendAsync_WhileAnotherSendIsInProgress_WaitsForIt()
    {
        using var socket = new ProbeWebSocket();
        using var gate = new SendGate(socket);
        var hold = socket.HoldNextSend();

        var first = gate.SendAsync(new byte[] { 1 }, WebSocketMessageType.Binary, CancellationToken.None).AsTask();
        var second = gate.SendAsync(new byte[] { 2 }, WebSocketMessageType.Binary, CancellationToken.None).AsTask();
        var third = gate.SendTextAsync("three", CancellationToken.None).AsTask();

        // The first send is inside the socket; the others must not have reached it.
        Assert.Equal(1, socket.SendCallCount);
        Assert.False(first.IsCompleted);
        Assert.False(second.IsCompleted);
        Assert.False(third.IsCompleted);

        hold.SetResult();
        await Task.WhenAll(first, second, third).WaitAsync(s_timeout);

        Assert.Equal(3, socket.SendCallCount);
        Assert.Equal(1, socket.MaxInFlight);
        Assert.Equal(new byte[] { 1 }, socket.Sends[0].Data);
    }

    [Fact]
    public async Task ConcurrentSends_NeverOverlapInTheSocket()
    {
        using var socket = new ProbeWebSocket();
        using var gate = new SendGate(socket);
        var holds = Enumerable.Range(0, 20).Select(_ => socket.HoldNextSend()).ToArray();
        var start = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        var sending = Enumerable.Range(0, 20).Select(i => Task.Run(async () =>
        {
            await start.Task;
            await gate.SendAsync(new[] { (byte)i }, WebSocketMessageType.Binary, CancellationToken.None);
        })).ToArray();
        start.SetResult();

        // Release the sends one at a time, each only once it is inside the socket; with a working gate no other
        // send can be in the socket while one is held.
        try
        {
            foreach (var hold in holds)
            {
                Assert.True(await socket.WaitForSendAsync(s_timeout));
                Assert.Equal(1, socket.MaxInFlight);
                hold.SetResult();
            }

            await Task.WhenAll(sending).WaitAsync(s_timeout);
        }
        finally
        {
            foreach (var hold in holds)
            {
                hold.TrySetResult();
            }
        }

        Assert.Equal(20, socket.SendCallCount);
        Assert.Equal(1, socket.MaxInFlight);
        Assert.Equal(Enumerable.Range(0, 20).Select(i => (byte)i).Order(), socket.Sends.Select(f => f.Data.Single()).Order());
    }

    [Fact]
    public async Task SendAsync_CancelledWhileWaiting_ThrowsAndLeavesTheGateIntact()
    {
        using var socket = new ProbeWebSocket();
        using var gate = new SendGate(socket);
        var hold = socket.HoldNextSend();
        using var cancel = new CancellationTokenSource();

        var first = gate.SendAsync(new byte[] { 1 }, WebSocketMessageType.Binary, CancellationToken.None).AsTask();
        var cancelled = gate.SendAsync(new byte[] { 2 }, WebSocketMessageType.Binary, cancel.Token).AsTask();
        await cancel.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => cancelled).WaitAsync(s_timeout);

        // The first send still owns the gate: a new send must wait for it.
        var third = gate.SendAsync(new byte[] { 3 }, WebSocketMessageType.Binary, CancellationToken.None).AsTask();
        Assert.Equal(1, socket.SendCallCount);
        Assert.False(third.IsCompleted);

        hold.SetResult();
        await Task.WhenAll(first, third).WaitAsync(s_timeout);

        Assert.Equal([new byte[] { 1 }, new byte[] { 3 }], socket.Sends.Select(f => f.Data));
        Assert.Equal(1, socket.MaxInFlight);
    }

    [Fact]
    public async Task CloseAsync_WaitsForTheSendInProgress()
    {
        using var socket = new ProbeWebSocket();
        using var gate = new SendGate(socket);
        var hold = socket.HoldNextSend();

        var sending = gate.SendAsync(new byte[] { 1 }, WebSocketMessageType.Binary, CancellationToken.None).AsTask();
        var closing = gate.CloseAsync(WebSocketCloseStatus.NormalClosure, "bye", s_timeout, TimeProvider.System);

        Assert.False(closing.IsCompleted);
        Assert.Empty(socket.Closes);

        hold.SetResult();
        await Task.WhenAll(sending, closing).WaitAsync(s_timeout);

        Assert.Equal(["send", "close"], socket.Events);
        var close = Assert.Single(socket.Closes);
        Assert.Equal(WebSocketCloseStatus.NormalClosure, close.Status);
        Assert.Equal("bye", close.Reason);
        Assert.False(socket.Aborted);
    }

    [Fact]
    public async Task CloseAsync_GateHeldPastTheTimeout_AbortsInsteadOfClosing()
    {
        var time = new FakeTimeProvider();
        using var socket = new ProbeWebSocket();
        using var gate = new SendGate(socket);
        var hold = socket.HoldNextSend();

        var sending = gate.SendAsync(new byte[] { 1 }, WebSocketMessageType.Binary, CancellationToken.None).AsTask();
        var closing = gate.CloseAsync(WebSocketCloseStatus.NormalClosure, null, TimeSpan.FromSeconds(5), time);
        Assert.False(closing.IsCompleted);

        time.Advance(TimeSpan.FromSeconds(5));
        await closing.WaitAsync(s_timeout);

        Assert.True(socket.Aborted);
        Assert.Empty(socket.Closes);

        hold.SetResult();
        await sending.WaitAsync(s_timeout);
    }

    [Fact]
    public async Task CloseAsync_LongReason_IsTruncated()
    {
        using var socket = new ProbeWebSocket();
        using var gate = new SendGate(socket);
        var reason = new string('r', 500);

        await gate.CloseAsync(WebSocketCloseStatus.InternalServerError, reason, s_timeout, TimeProvider.System).WaitAsync(s_timeout);

        var close = Assert.Single(socket.Closes);
        Assert.Equal(WebSocketCloseStatus.InternalServerError, close.Status);
        Assert.Equal(new string('r', 123), close.Reason);
    }

    [Fact]
    public async Task SendAfterClose_StillGoesThroughTheGate()
    {
        // The gate is released after a close, so a late send reaches the socket (which then rejects it itself).
        using var socket = new ProbeWebSocket();
        using var gate = new SendGate(socket);

        await gate.CloseAsync(WebSocketCloseStatus.NormalClosure, null, s_timeout, TimeProvider.System).WaitAsync(s_timeout);
        await gate.SendAsync(new byte[] { 9 }, WebSocketMessageType.Binary, CancellationToken.None).AsTask().WaitAsync(s_timeout);

        Assert.Equal(["close", "send"], socket.Events);
    }
}
