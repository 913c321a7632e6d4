using System.Buffers;
using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Net.WebSockets;
using System.Text;
using Microsoft.Extensions.Time.Testing;
using Putsh.Protocol.WebSockets;

namespace Putsh.Protocol.Tests;

/// <summary>
/// RFC 6455 conformance of putsh's own WebSocket, each case against a peer that writes and reads raw frames over a
/// real loopback connection: fragmentation, control frames between fragments, masking both ways, the close handshake
/// from either side, refused frames with their close codes, UTF-8 validation of text, keep-alive on a fake clock, and
/// a receive loop that goes on reading while its sends are stalled.
/// </summary>
public sealed class PutshWebSocketTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    private static async Task<(ValueWebSocketReceiveResult Result, byte[] Data)> ReceiveAsync(WebSocket socket, int size = 64 * 1024)
    {
        var buffer = new byte[size];
        var result = await socket.ReceiveAsync(buffer.AsMemory(), CancellationToken.None).AsTask().WaitAsync(Timeout);
        return (result, buffer[..result.Count]);
    }

    /// <summary>Receives one whole message, in as many pieces as it comes.</summary>
    private static async Task<(WebSocketMessageType Type, byte[] Data)> ReceiveMessageAsync(WebSocket socket)
    {
        var data = new List<byte>();
        while (true)
        {
            var (result, piece) = await ReceiveAsync(socket);
            data.AddRange(piece);
            if (result.EndOfMessage)
            {
                return (result.MessageType, data.ToArray());
            }
        }
    }

    /// <summary>A ping every 5 s on <paramref name="time"/>; with a <paramref name="timeout"/>, pings that must be answered, else unsolicited pongs.</summary>
    private static Func<PutshWebSocketOptions, PutshWebSocketOptions> KeepAlive(FakeTimeProvider time, TimeSpan? timeout) => o => new PutshWebSocketOptions
    {
        IsServer = o.IsServer,
        KeepAliveInterval = TimeSpan.FromSeconds(5),
        KeepAliveTimeout = timeout ?? System.Threading.Timeout.InfiniteTimeSpan,
        Time = time,
    };

    private static (int Code, string Reason) CloseOf(byte[] payload) =>
        (BinaryPrimitives.ReadUInt16BigEndian(payload), Encoding.UTF8.GetString(payload.AsSpan(2)));

    [Fact]
    public async Task A_fragmented_text_message_with_a_ping_between_its_fragments_arrives_whole_and_the_ping_is_answered_in_between()
    {
        await using var pair = await RawPeerPair.CreateAsync(socketIsServer: true);
        await pair.SendAsync(fin: false, WsOpcode.Text, "Hel"u8);
        await pair.SendAsync(fin: true, WsOpcode.Ping, "are you there"u8);
        await pair.SendAsync(fin: false, WsOpcode.Continuation, "lo, "u8);
        await pair.SendAsync(fin: true, WsOpcode.Continuation, "world"u8);

        var (type, data) = await ReceiveMessageAsync(pair.Socket);
        Assert.Equal(WebSocketMessageType.Text, type);
        Assert.Equal("Hello, world", Encoding.UTF8.GetString(data));

        // §5.5.3: the pong carries the ping's payload; a server's frames are not masked.
        var pong = await pair.ReadFrameAsync();
        Assert.Equal(WsOpcode.Pong, pong!.Value.Header.Opcode);
        Assert.False(pong.Value.Header.Masked);
        Assert.Equal("are you there", Encoding.UTF8.GetString(pong.Value.Payload));
    }

    [Fact]
    public async Task A_character_split_between_fragments_is_valid_UTF8_and_a_message_of_invalid_UTF8_is_closed_with_1007()
    {
        await using var pair = await RawPeerPair.CreateAsync(socketIsServer: true);
        var euro = Encoding.UTF8.GetBytes("€"); // three bytes, sent as one and two
        await pair.SendAsync(fin: false, WsOpcode.Text, euro.AsSpan(0, 1));
        await pair.SendAsync(fin: true, WsOpcode.Continuation, euro.AsSpan(1));
        var (_, data) = await ReceiveMessageAsync(pair.Socket);
        Assert.Equal("€", Encoding.UTF8.GetString(data));

        await pair.SendAsync(fin: true, WsOpcode.Text, [0x61, 0xC3, 0x28]); // 'a', then a lead byte followed by a non-continuation
        var failure = await Assert.ThrowsAsync<WebSocketException>(() => ReceiveMessageAsync(pair.Socket));
        Assert.Contains("UTF-8", failure.Message, StringComparison.Ordinal);
        var close = await pair.ReadUntilAsync(WsOpcode.Close);
        Assert.Equal(1007, CloseOf(close.Payload).Code);
        Assert.Equal(WebSocketState.Aborted, pair.Socket.State);
    }

    [Fact]
    public async Task A_text_message_that_ends_inside_a_character_is_refused()
    {
        await using var pair = await RawPeerPair.CreateAsync(socketIsServer: true);
        await pair.SendAsync(fin: true, WsOpcode.Text, Encoding.UTF8.GetBytes("€").AsSpan(0, 2));
        await Assert.ThrowsAsync<WebSocketException>(() => ReceiveMessageAsync(pair.Socket));
        Assert.Equal(1007, CloseOf((await pair.ReadUntilAsync(WsOpcode.Close)).Payload).Code);
    }

    [Fact]
    public async Task A_client_masks_every_frame_with_a_fresh_key_and_a_server_masks_none()
    {
        await using (var client = await RawPeerPair.CreateAsync(socketIsServer: false))
        {
            var payload = Encoding.UTF8.GetBytes(new string('x', 300));
            await client.Socket.SendAsync(payload, WebSocketMessageType.Binary, endOfMessage: true, CancellationToken.None);
            await client.Socket.SendAsync(payload, WebSocketMessageType.Binary, endOfMessage: true, CancellationToken.None);
            var first = await client.ReadFrameAsync();
            var second = await client.ReadFrameAsync();
            Assert.True(first!.Value.Header.Masked);
            Assert.True(second!.Value.Header.Masked);
            Assert.NotEqual(first.Value.Header.MaskKey, second.Value.Header.MaskKey);
            Assert.Equal(payload, first.Value.Payload);
            Assert.Equal(payload, second.Value.Payload);
        }

        await using var server = await RawPeerPair.CreateAsync(socketIsServer: true);
        await server.Socket.SendAsync("plain"u8.ToArray(), WebSocketMessageType.Text, endOfMessage: true, CancellationToken.None);
        var frame = await server.ReadFrameAsync();
        Assert.False(frame!.Value.Header.Masked);
        Assert.Equal("plain", Encoding.UTF8.GetString(frame.Value.Payload));
    }

    [Fact]
    public async Task A_message_sent_in_pieces_goes_as_a_first_frame_and_continuations()
    {
        await using var pair = await RawPeerPair.CreateAsync(socketIsServer: false);
        await pair.Socket.SendAsync("ab"u8.ToArray(), WebSocketMessageType.Text, endOfMessage: false, CancellationToken.None);
        await pair.Socket.SendAsync("cd"u8.ToArray(), WebSocketMessageType.Text, endOfMessage: true, CancellationToken.None);
        var first = (await pair.ReadFrameAsync())!.Value.Header;
        var last = (await pair.ReadFrameAsync())!.Value.Header;
        Assert.Equal((WsOpcode.Text, false), (first.Opcode, first.Fin));
        Assert.Equal((WsOpcode.Continuation, true), (last.Opcode, last.Fin));
    }

    public static TheoryData<string, byte[], int> RefusedFrames => new()
    {
        { "unmasked from a client", RawPeerPair.Frame(true, WsOpcode.Binary, "x"u8, masked: false), 1002 },
        { "reserved bit", SetBit(RawPeerPair.Frame(true, WsOpcode.Binary, "x"u8, masked: true), 0, 0x40), 1002 },
        { "unknown opcode", SetBit(RawPeerPair.Frame(true, WsOpcode.Binary, "x"u8, masked: true), 0, 0x03), 1002 },
        { "fragmented ping", RawPeerPair.Frame(false, WsOpcode.Ping, "x"u8, masked: true), 1002 },
        { "continuation first", RawPeerPair.Frame(true, WsOpcode.Continuation, "x"u8, masked: true), 1002 },
        { "close of one byte", RawPeerPair.Frame(true, WsOpcode.Close, [3], masked: true), 1002 },
        { "close with code 1005", RawPeerPair.Frame(true, WsOpcode.Close, [0x03, 0xED], masked: true), 1002 },
        { "close reason not UTF-8", RawPeerPair.Frame(true, WsOpcode.Close, [0x03, 0xE8, 0xFF], masked: true), 1007 },
        { "over the size limit", RawPeerPair.Frame(true, WsOpcode.Binary, new byte[2000], masked: true), 1009 },
    };

    private static byte[] SetBit(byte[] frame, int index, byte bits)
    {
        frame[index] |= bits;
        return frame;
    }

    [Theory]
    [MemberData(nameof(RefusedFrames))]
    public async Task A_frame_the_RFC_forbids_closes_the_socket_with_its_code_and_only_that_socket(string what, byte[] frame, int code)
    {
        await using var pair = await RawPeerPair.CreateAsync(socketIsServer: true, o => new PutshWebSocketOptions { IsServer = o.IsServer, MaxFramePayload = 1024 });
        await pair.SendRawAsync(frame);
        var failure = await Assert.ThrowsAsync<WebSocketException>(() => ReceiveMessageAsync(pair.Socket));
        Assert.False(string.IsNullOrEmpty(failure.Message), what);
        var close = await pair.ReadUntilAsync(WsOpcode.Close);
        Assert.Equal(code, CloseOf(close.Payload).Code);
        // Nothing more is sent, and the connection is shut after the close.
        Assert.Null(await pair.ReadFrameAsync());
    }

    [Fact]
    public async Task A_new_message_inside_a_fragmented_one_is_a_protocol_error()
    {
        await using var pair = await RawPeerPair.CreateAsync(socketIsServer: true);
        await pair.SendAsync(fin: false, WsOpcode.Binary, "a"u8);
        await pair.SendAsync(fin: true, WsOpcode.Binary, "b"u8);
        var (first, _) = await ReceiveAsync(pair.Socket);
        Assert.False(first.EndOfMessage);
        await Assert.ThrowsAsync<WebSocketException>(() => ReceiveAsync(pair.Socket));
        Assert.Equal(1002, CloseOf((await pair.ReadUntilAsync(WsOpcode.Close)).Payload).Code);
    }

    [Fact]
    public async Task When_the_peer_closes_first_the_close_is_reported_then_echoed_and_the_connection_ends()
    {
        await using var pair = await RawPeerPair.CreateAsync(socketIsServer: true);
        await pair.SendAsync(fin: true, WsOpcode.Close, [0x03, 0xE9, .. "away"u8]);
        var (result, _) = await ReceiveAsync(pair.Socket);
        Assert.Equal(WebSocketMessageType.Close, result.MessageType);
        Assert.Equal(WebSocketCloseStatus.EndpointUnavailable, pair.Socket.CloseStatus);
        Assert.Equal("away", pair.Socket.CloseStatusDescription);
        Assert.Equal(WebSocketState.CloseReceived, pair.Socket.State);

        // Sending is still allowed until our close (§5.5.1), then the echo ends it.
        await pair.Socket.SendAsync("last"u8.ToArray(), WebSocketMessageType.Binary, true, CancellationToken.None);
        await pair.Socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "bye", CancellationToken.None);
        Assert.Equal(WebSocketState.Closed, pair.Socket.State);
        Assert.Equal("last", Encoding.UTF8.GetString((await pair.ReadFrameAsync())!.Value.Payload));
        var close = await pair.ReadFrameAsync();
        Assert.Equal((1000, "bye"), CloseOf(close!.Value.Payload));
        Assert.Null(await pair.ReadFrameAsync());
        await pair.Socket.Closed.WaitAsync(Timeout);
    }

    [Fact]
    public async Task When_we_close_first_nothing_more_is_sent_and_the_peers_close_completes_the_handshake()
    {
        await using var pair = await RawPeerPair.CreateAsync(socketIsServer: false);
        await pair.Socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);
        Assert.Equal(WebSocketState.CloseSent, pair.Socket.State);
        await Assert.ThrowsAsync<WebSocketException>(() => pair.Socket.SendAsync("late"u8.ToArray(), WebSocketMessageType.Binary, true, CancellationToken.None));
        var close = await pair.ReadFrameAsync();
        Assert.Equal(WsOpcode.Close, close!.Value.Header.Opcode);
        Assert.Equal(1000, CloseOf(close.Value.Payload).Code);

        // Data still in flight from the peer is received until its close.
        await pair.SendAsync(fin: true, WsOpcode.Binary, "in flight"u8);
        await pair.SendAsync(fin: true, WsOpcode.Close, [0x03, 0xE8]);
        Assert.Equal("in flight", Encoding.UTF8.GetString((await ReceiveMessageAsync(pair.Socket)).Data));
        var (result, _) = await ReceiveAsync(pair.Socket);
        Assert.Equal(WebSocketMessageType.Close, result.MessageType);
        Assert.Equal(WebSocketState.Closed, pair.Socket.State);
        Assert.Null(await pair.ReadFrameAsync());
    }

    [Fact]
    public async Task CloseAsync_waits_for_the_peers_close_reading_and_dropping_data_until_it_comes()
    {
        await using var pair = await RawPeerPair.CreateAsync(socketIsServer: false);
        var closing = pair.Socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "done", CancellationToken.None);
        Assert.Equal(WsOpcode.Close, (await pair.ReadFrameAsync())!.Value.Header.Opcode);
        Assert.False(closing.IsCompleted);
        await pair.SendAsync(fin: true, WsOpcode.Binary, "dropped"u8);
        await pair.SendAsync(fin: true, WsOpcode.Close, [0x03, 0xE8]);
        await closing.WaitAsync(Timeout);
        Assert.Equal(WebSocketState.Closed, pair.Socket.State);
    }

    [Fact]
    public async Task A_connection_that_ends_without_a_close_is_reported_as_closed_prematurely()
    {
        await using var pair = await RawPeerPair.CreateAsync(socketIsServer: true);
        await pair.SendAsync(fin: true, WsOpcode.Binary, "x"u8);
        pair.Peer.Shutdown(SocketShutdown.Send);
        Assert.Equal("x", Encoding.UTF8.GetString((await ReceiveMessageAsync(pair.Socket)).Data));
        var failure = await Assert.ThrowsAsync<WebSocketException>(() => ReceiveAsync(pair.Socket));
        Assert.Equal(WebSocketError.ConnectionClosedPrematurely, failure.WebSocketErrorCode);
        Assert.Equal(WebSocketState.Aborted, pair.Socket.State);
    }

    [Fact]
    public async Task Pings_go_out_on_the_fake_clock_and_an_unanswered_one_aborts_the_socket_after_the_timeout()
    {
        var time = new FakeTimeProvider();
        await using var pair = await RawPeerPair.CreateAsync(socketIsServer: false, KeepAlive(time, TimeSpan.FromSeconds(20)));
        var receive = ReceiveAsync(pair.Socket);

        // One ping per interval while the first is unanswered; the socket stays open until 20 s after that first.
        time.Advance(TimeSpan.FromSeconds(5));
        var ping = await pair.ReadFrameAsync();
        Assert.Equal(WsOpcode.Ping, ping!.Value.Header.Opcode);
        time.Advance(TimeSpan.FromSeconds(19));
        Assert.Equal(WsOpcode.Ping, (await pair.ReadFrameAsync())!.Value.Header.Opcode);
        Assert.Equal(WebSocketState.Open, pair.Socket.State);
        Assert.False(receive.IsCompleted);

        time.Advance(TimeSpan.FromSeconds(1));
        await Assert.ThrowsAnyAsync<Exception>(() => receive);
        Assert.Equal(WebSocketState.Aborted, pair.Socket.State);
    }

    [Fact]
    public async Task An_answered_ping_keeps_the_socket_open_past_the_timeout()
    {
        var time = new FakeTimeProvider();
        await using var pair = await RawPeerPair.CreateAsync(socketIsServer: false, KeepAlive(time, TimeSpan.FromSeconds(20)));
        var receive = ReceiveAsync(pair.Socket);
        for (var i = 0; i < 10; i++)
        {
            time.Advance(TimeSpan.FromSeconds(5));
            var ping = await pair.ReadUntilAsync(WsOpcode.Ping);
            await pair.SendAsync(fin: true, WsOpcode.Pong, ping.Payload);
            // The pong is read by the pending receive before the clock moves on.
            await pair.SendAsync(fin: true, WsOpcode.Binary, [(byte)i]);
            Assert.Equal([(byte)i], (await receive).Data);
            receive = ReceiveAsync(pair.Socket);
        }

        Assert.Equal(WebSocketState.Open, pair.Socket.State);
    }

    [Fact]
    public async Task Without_a_timeout_the_keep_alive_is_an_unsolicited_pong()
    {
        var time = new FakeTimeProvider();
        await using var pair = await RawPeerPair.CreateAsync(socketIsServer: true, KeepAlive(time, timeout: null));
        time.Advance(TimeSpan.FromSeconds(5));
        Assert.Equal(WsOpcode.Pong, (await pair.ReadFrameAsync())!.Value.Header.Opcode);
        time.Advance(TimeSpan.FromSeconds(60));
        Assert.Equal(WebSocketState.Open, pair.Socket.State);
    }

    [Fact]
    public async Task Every_socket_of_a_clock_shares_one_heartbeat_which_forgets_them_when_they_end()
    {
        var time = new FakeTimeProvider();
        var pairs = new List<RawPeerPair>();
        for (var i = 0; i < 20; i++)
        {
            pairs.Add(await RawPeerPair.CreateAsync(socketIsServer: false, KeepAlive(time, timeout: null)));
        }

        var heartbeat = WsHeartbeat.For(time, WsHeartbeat.PeriodFor(TimeSpan.FromSeconds(5)));
        Assert.Equal(20, heartbeat.Count);
        time.Advance(TimeSpan.FromSeconds(5));
        foreach (var pair in pairs)
        {
            Assert.Equal(WsOpcode.Pong, (await pair.ReadFrameAsync())!.Value.Header.Opcode);
            await pair.DisposeAsync();
        }

        Assert.Equal(0, heartbeat.Count);
    }

    [Fact]
    public async Task A_ping_is_answered_and_the_receive_goes_on_while_data_sends_wait_for_a_peer_that_does_not_read()
    {
        // The deadlock of .NET's WebSocket: its receive answers a ping by taking the send lock, which a data send
        // holds while the peer is not reading; two peers that send to each other can both stop reading.
        await using var pair = await RawPeerPair.CreateAsync(
            socketIsServer: false,
            o => new PutshWebSocketOptions { IsServer = o.IsServer, MaxQueuedBytes = 64 * 1024 },
            peerReceiveBuffer: 4096,
            socketSendBuffer: 4096);
        var chunk = new byte[16 * 1024];
        ValueTask pending = default;
        var sent = 0;
        for (; sent < 10_000; sent++)
        {
            pending = pair.Socket.SendAsync(chunk.AsMemory(), WebSocketMessageType.Binary, endOfMessage: true, CancellationToken.None);
            if (!pending.IsCompleted)
            {
                break;
            }
        }

        Assert.False(pending.IsCompleted, "sends never filled the connection");

        await pair.SendAsync(fin: true, WsOpcode.Ping, "ping"u8);
        await pair.SendAsync(fin: true, WsOpcode.Binary, "after the ping"u8);
        Assert.Equal("after the ping", Encoding.UTF8.GetString((await ReceiveMessageAsync(pair.Socket)).Data));
        Assert.False(pending.IsCompleted);

        // Once the peer reads, the stalled send completes and the pong follows the data queued before it.
        var pong = await pair.ReadUntilAsync(WsOpcode.Pong);
        Assert.Equal("ping", Encoding.UTF8.GetString(pong.Payload));
        await pending.AsTask().WaitAsync(Timeout);
    }

    [Fact]
    public async Task Frames_larger_than_a_block_leave_whole_and_every_queued_block_goes_back_once_sent()
    {
        var pool = new CountingPool(4096);
        await using var pair = await RawPeerPair.CreateAsync(socketIsServer: false, o => new PutshWebSocketOptions { IsServer = o.IsServer, Pool = pool });
        var message = new byte[50_000];
        Random.Shared.NextBytes(message);
        for (var i = 0; i < 5; i++)
        {
            await pair.Socket.SendAsync(message, WebSocketMessageType.Binary, endOfMessage: true, CancellationToken.None);
        }

        for (var i = 0; i < 5; i++)
        {
            Assert.Equal(message, (await pair.ReadFrameAsync())!.Value.Payload);
        }

        Assert.True(pool.Rented >= 5 * 50_000 / 4096, $"only {pool.Rented} blocks rented");
        var deadline = DateTime.UtcNow + Timeout;
        while (pool.Outstanding != 0 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(10);
        }

        Assert.Equal(0, pool.Outstanding);
        Assert.Equal(0, pair.Socket.QueuedBytes);
    }

    [Fact]
    public async Task Once_sent_and_given_back_a_block_is_not_kept_alive_by_the_socket()
    {
        // The socket's cached send operation used to keep the last buffer it sent, and so a pool block, per connection:
        // one 64 KiB block per idle socket in a connector's heap.
        var pool = new CountingPool(4096);
        await using var pair = await RawPeerPair.CreateAsync(socketIsServer: false, o => new PutshWebSocketOptions { IsServer = o.IsServer, Pool = pool });
        await pair.Socket.SendAsync("one frame in one block"u8.ToArray(), WebSocketMessageType.Binary, endOfMessage: true, CancellationToken.None);
        var big = new byte[20_000];
        await pair.Socket.SendAsync(big, WebSocketMessageType.Binary, endOfMessage: true, CancellationToken.None); // gathered from several blocks
        Assert.Equal("one frame in one block", Encoding.UTF8.GetString((await pair.ReadFrameAsync())!.Value.Payload));
        Assert.Equal(big.Length, (await pair.ReadFrameAsync())!.Value.Payload.Length);

        var deadline = DateTime.UtcNow + Timeout;
        while (pool.Outstanding != 0 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(10);
        }

        Assert.Equal(0, pool.Outstanding);
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        Assert.DoesNotContain(pool.Blocks, block => block.TryGetTarget(out _));
    }

    /// <summary>A pool that counts the blocks rented and not yet given back.</summary>
    private sealed class CountingPool(int blockSize) : MemoryPool<byte>
    {
        private int _outstanding;
        private int _rented;

        public int Outstanding => Volatile.Read(ref _outstanding);

        public int Rented => Volatile.Read(ref _rented);

        public override int MaxBufferSize => blockSize;

        /// <summary>Every block handed out, weakly: a block still alive after a full GC is held by someone.</summary>
        public System.Collections.Concurrent.ConcurrentBag<WeakReference<byte[]>> Blocks { get; } = [];

        public override IMemoryOwner<byte> Rent(int minBufferSize = -1)
        {
            Interlocked.Increment(ref _rented);
            Interlocked.Increment(ref _outstanding);
            var block = new byte[Math.Max(minBufferSize, blockSize)];
            Blocks.Add(new WeakReference<byte[]>(block));
            return new Owner(this, block);
        }

        protected override void Dispose(bool disposing)
        {
        }

        private sealed class Owner(CountingPool pool, byte[] block) : IMemoryOwner<byte>
        {
            private int _disposed;

            public Memory<byte> Memory => block;

            public void Dispose()
            {
                if (Interlocked.Exchange(ref _disposed, 1) == 0)
                {
                    Interlocked.Decrement(ref pool._outstanding);
                }
            }
        }
    }

    [Fact]
    public async Task A_cancelled_receive_aborts_the_socket_as_dotnets_does()
    {
        await using var pair = await RawPeerPair.CreateAsync(socketIsServer: true);
        using var cts = new CancellationTokenSource();
        var receive = pair.Socket.ReceiveAsync(new byte[16].AsMemory(), cts.Token).AsTask();
        cts.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => receive.WaitAsync(Timeout));
        Assert.Equal(WebSocketState.Aborted, pair.Socket.State);
    }

    [Fact]
    public async Task Two_putsh_sockets_exchange_large_messages_both_ways_at_once()
    {
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(1);
        var dialled = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        var accept = listener.AcceptAsync();
        await dialled.ConnectAsync(listener.LocalEndPoint!);
        using var server = new PutshWebSocket(WsTransport.ForSocket(await accept), new PutshWebSocketOptions { IsServer = true });
        using var client = new PutshWebSocket(WsTransport.ForSocket(dialled), new PutshWebSocketOptions { IsServer = false });

        var message = new byte[200_000];
        Random.Shared.NextBytes(message);
        async Task SendAll(WebSocket socket)
        {
            for (var i = 0; i < 20; i++)
            {
                await socket.SendAsync(message, WebSocketMessageType.Binary, true, CancellationToken.None);
            }
        }

        async Task ReceiveAll(WebSocket socket)
        {
            for (var i = 0; i < 20; i++)
            {
                Assert.Equal(message, (await ReceiveMessageAsync(socket)).Data);
            }
        }

        await Task.WhenAll(SendAll(server), SendAll(client), ReceiveAll(server), ReceiveAll(client)).WaitAsync(Timeout);
    }
}
