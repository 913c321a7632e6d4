using System.Buffers;
using System.Net;
using System.Net.Sockets;
using System.Net.WebSockets;
using Putsh.Protocol.Transport;

namespace Putsh.Protocol.Tests;

/// <summary>The queued-write transport under the connector's router sockets, over real loopback TCP.</summary>
public sealed class WriteQueueStreamTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    private static CancellationToken Token() => new CancellationTokenSource(Timeout).Token;

    [Fact]
    public async Task Many_writes_arrive_whole_and_in_order()
    {
        var (client, server) = await ConnectPairAsync();
        using var peer = server;
        var stream = new WriteQueueStream(client);
        var expected = new MemoryStream();
        var random = new Random(7);
        for (var i = 0; i < 2000; i++)
        {
            var chunk = new byte[random.Next(1, 3000)];
            random.NextBytes(chunk);
            expected.Write(chunk);
            await stream.WriteAsync(chunk).AsTask().WaitAsync(Timeout);
        }

        var reading = ReadAllAsync(peer);
        await stream.DisposeAsync();
        Assert.Equal(expected.ToArray(), await reading.WaitAsync(Timeout));
    }

    [Fact]
    public async Task Writes_larger_than_a_block_arrive_whole_and_every_block_goes_back_once_sent()
    {
        var (client, server) = await ConnectPairAsync();
        using var peer = server;
        using var pool = new CountingPool(blockSize: 16 * 1024);
        var stream = new WriteQueueStream(client, pool);
        var expected = new MemoryStream();
        var random = new Random(11);
        foreach (var size in new[] { 1, 16 * 1024, 16 * 1024 + 1, 65536 + 20, 100, 200_000, 3 })
        {
            var chunk = new byte[size];
            random.NextBytes(chunk);
            expected.Write(chunk);
            await stream.WriteAsync(chunk).AsTask().WaitAsync(Timeout);
        }

        var received = await ReadExactlyAsync(peer, (int)expected.Length).WaitAsync(Timeout);
        Assert.Equal(expected.ToArray(), received);
        Assert.True(pool.Rented > 16, $"the writes should have needed many 16 KiB blocks, rented {pool.Rented}");

        // Everything was sent and nothing more is queued: an idle connection holds no block.
        var deadline = DateTime.UtcNow + Timeout;
        while (pool.Outstanding != 0)
        {
            Assert.True(DateTime.UtcNow < deadline, $"{pool.Outstanding} blocks still held by an idle queue");
            await Task.Delay(10);
        }

        await stream.DisposeAsync();
    }

    [Fact]
    public void Queues_share_one_block_pool_by_default()
    {
        Assert.Equal(64 * 1024, WriteQueueStream.SharedPool.MaxBufferSize);
    }

    [Fact]
    public async Task A_writer_waits_when_the_queue_is_full_and_goes_on_when_the_peer_reads()
    {
        var (client, server) = await ConnectPairAsync();
        using var peer = server;
        client.SendBufferSize = 16 * 1024;
        peer.ReceiveBufferSize = 16 * 1024;
        await using var stream = new WriteQueueStream(client);

        // The peer reads nothing: the kernel buffers fill, then the queue, then a write has to wait.
        var chunk = new byte[64 * 1024];
        var written = 0L;
        ValueTask pending = default;
        for (var i = 0; i < 1000; i++)
        {
            pending = stream.WriteAsync(chunk);
            written += chunk.Length;
            if (!pending.IsCompleted)
            {
                break;
            }
        }

        Assert.False(pending.IsCompleted, "a write should wait once the queue holds more than its limit");
        Assert.True(written < 64L * 1024 * 1024, $"queued {written} bytes without waiting");

        // Reading frees room: the waiting write completes and everything written arrives.
        var reading = ReadCountAsync(peer, written);
        await pending.AsTask().WaitAsync(Timeout);
        Assert.Equal(written, await reading.WaitAsync(Timeout));
    }

    [Fact]
    public async Task Writes_after_the_connection_broke_fail_with_IOException()
    {
        var (client, server) = await ConnectPairAsync();
        await using var stream = new WriteQueueStream(client);
        server.LingerState = new LingerOption(true, 0);
        server.Close(); // a reset

        // Each write is larger than the queue's limit, so it waits for the send loop, which meets the reset.
        var failed = false;
        for (var i = 0; i < 100 && !failed; i++)
        {
            try
            {
                await stream.WriteAsync(new byte[WriteQueueStream.MaxQueuedBytes * 2]).AsTask().WaitAsync(Timeout);
            }
            catch (IOException)
            {
                failed = true;
            }
        }

        Assert.True(failed, "writes should fail once the send loop saw the connection break");
    }

    [Fact]
    public async Task A_WebSocket_over_it_exchanges_messages_both_ways()
    {
        var (client, server) = await ConnectPairAsync();
        using var clientSocket = WebSocket.CreateFromStream(new WriteQueueStream(client), new WebSocketCreationOptions { IsServer = false });
        using var serverSocket = WebSocket.CreateFromStream(new NetworkStream(server, ownsSocket: true), new WebSocketCreationOptions { IsServer = true });

        var payload = new byte[100_000];
        new Random(3).NextBytes(payload);
        for (var i = 0; i < 20; i++)
        {
            await clientSocket.SendAsync(payload.AsMemory(0, 10 + (i * 4000)), WebSocketMessageType.Binary, true, Token());
        }

        for (var i = 0; i < 20; i++)
        {
            var received = await ReceiveMessageAsync(serverSocket);
            Assert.Equal(payload.AsSpan(0, 10 + (i * 4000)).ToArray(), received);
        }

        await serverSocket.SendAsync("pong?"u8.ToArray(), WebSocketMessageType.Text, true, Token());
        Assert.Equal("pong?"u8.ToArray(), await ReceiveMessageAsync(clientSocket));

        await clientSocket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "bye", Token());
        var close = await serverSocket.ReceiveAsync(new byte[16], Token());
        Assert.Equal(WebSocketMessageType.Close, close.MessageType);
        Assert.Equal(WebSocketCloseStatus.NormalClosure, serverSocket.CloseStatus);
    }

    private static async Task<byte[]> ReceiveMessageAsync(WebSocket socket)
    {
        using var message = new MemoryStream();
        var buffer = new byte[8192];
        while (true)
        {
            var result = await socket.ReceiveAsync(buffer, Token());
            message.Write(buffer, 0, result.Count);
            if (result.EndOfMessage)
            {
                return message.ToArray();
            }
        }
    }

    private static async Task<(Socket Client, Socket Server)> ConnectPairAsync()
    {
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(1);
        var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        var accept = listener.AcceptAsync();
        await client.ConnectAsync(listener.LocalEndPoint!).WaitAsync(Timeout);
        return (client, await accept.WaitAsync(Timeout));
    }

    private static async Task<byte[]> ReadAllAsync(Socket socket)
    {
        using var stream = new NetworkStream(socket, ownsSocket: false);
        using var all = new MemoryStream();
        await stream.CopyToAsync(all);
        return all.ToArray();
    }

    private static async Task<byte[]> ReadExactlyAsync(Socket socket, int count)
    {
        var buffer = new byte[count];
        var total = 0;
        while (total < count)
        {
            var n = await socket.ReceiveAsync(buffer.AsMemory(total));
            Assert.NotEqual(0, n);
            total += n;
        }

        return buffer;
    }

    /// <summary>A block pool that counts the blocks rented and not yet given back.</summary>
    private sealed class CountingPool(int blockSize) : MemoryPool<byte>
    {
        private readonly BlockMemoryPool _inner = new(blockSize, 1024 * 1024, TimeSpan.Zero, TimeProvider.System);
        private int _outstanding;
        private int _rented;

        public int Outstanding => Volatile.Read(ref _outstanding);

        public int Rented => Volatile.Read(ref _rented);

        public override int MaxBufferSize => _inner.MaxBufferSize;

        public override IMemoryOwner<byte> Rent(int minBufferSize = -1)
        {
            Interlocked.Increment(ref _rented);
            Interlocked.Increment(ref _outstanding);
            return new Owner(this, _inner.Rent(minBufferSize));
        }

        protected override void Dispose(bool disposing) => _inner.Dispose();

        private sealed class Owner(CountingPool pool, IMemoryOwner<byte> inner) : IMemoryOwner<byte>
        {
            private int _disposed;

            public Memory<byte> Memory => inner.Memory;

            public void Dispose()
            {
                if (Interlocked.Exchange(ref _disposed, 1) == 0)
                {
                    Interlocked.Decrement(ref pool._outstanding);
                    inner.Dispose();
                }
            }
        }
    }

    private static async Task<long> ReadCountAsync(Socket socket, long count)
    {
        var buffer = new byte[64 * 1024];
        var total = 0L;
        while (total < count)
        {
            var n = await socket.ReceiveAsync(buffer);
            if (n == 0)
            {
                break;
            }

            total += n;
        }

        return total;
    }
}
