using System.Net.WebSockets;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Putsh.Protocol.V3;
using Putsh.Tests.Common;

namespace Putsh.Router.Tests.V3;

/// <summary>
/// <see cref="V3MessageReader"/> waits for each message with a zero-byte receive and holds no buffer meanwhile, so
/// thousands of idle sockets cost little. Checked on both kinds of socket it reads in production: one accepted by
/// Kestrel (the router's) and a <see cref="ClientWebSocket"/> (the connector's), over real loopback connections.
/// </summary>
public sealed class V3MessageReaderTests
{
    /// <summary>The largest message a peer may send (§5.1): larger than the ones putsh sends itself.</summary>
    private const int PeerMessage = 65536;

    public enum Side
    {
        /// <summary>The reader reads a socket Kestrel accepted.</summary>
        Router,

        /// <summary>The reader reads a <see cref="ClientWebSocket"/>.</summary>
        Connector,
    }

    [Theory]
    [InlineData(Side.Router)]
    [InlineData(Side.Connector)]
    public async Task A_waiting_reader_holds_no_buffer_and_every_message_still_arrives_intact(Side side)
    {
        await using var pair = await KestrelPair.StartAsync(new WebSocketAcceptContext());
        var (reading, sending) = pair.Ends(side);
        using var reader = new V3MessageReader();
        var token = TestTimeouts.Token();

        // Nothing sent yet: the receive waits, and holds no buffer while it does.
        var pending = reader.ReceiveAsync(reading, token).AsTask();
        Assert.False(pending.IsCompleted);
        Assert.False(reader.HoldsBuffer);

        // A message longer than the first buffer, in three fragments (§5.1: receivers reassemble).
        var big = RandomBytes(V3MessageReader.InitialBufferSize * 2 + 123);
        await sending.SendAsync(big.AsMemory(0, 1000), WebSocketMessageType.Binary, false, token);
        await sending.SendAsync(big.AsMemory(1000, 20_000), WebSocketMessageType.Binary, false, token);
        await sending.SendAsync(big.AsMemory(21_000), WebSocketMessageType.Binary, true, token);
        Assert.Equal(WebSocketMessageType.Binary, await pending.DefaultTimeout());
        Assert.Equal(big, reader.Message.ToArray());
        Assert.True(reader.HoldsBuffer);

        // Messages that are already there when the reader asks: an empty one, a small one, a text one.
        var small = RandomBytes(V3Frame.PrefixLength + 10);
        await sending.SendAsync(ReadOnlyMemory<byte>.Empty, WebSocketMessageType.Binary, true, token);
        await sending.SendAsync(small, WebSocketMessageType.Binary, true, token);
        await sending.SendAsync("hi"u8.ToArray(), WebSocketMessageType.Text, true, token);
        Assert.Equal(WebSocketMessageType.Binary, await reader.ReceiveAsync(reading, token).AsTask().DefaultTimeout());
        Assert.Equal(0, reader.Message.Length);
        Assert.Equal(WebSocketMessageType.Binary, await reader.ReceiveAsync(reading, token).AsTask().DefaultTimeout());
        Assert.Equal(small, reader.Message.ToArray());
        Assert.Equal(WebSocketMessageType.Text, await reader.ReceiveAsync(reading, token).AsTask().DefaultTimeout());
        Assert.Equal("hi"u8.ToArray(), reader.Message.ToArray());

        // Idle again: the buffer goes back to the pool for the wait, and a new one carries the next message.
        pending = reader.ReceiveAsync(reading, token).AsTask();
        Assert.False(pending.IsCompleted);
        Assert.False(reader.HoldsBuffer);
        var frame = RandomBytes(PeerMessage);
        await sending.SendAsync(frame, WebSocketMessageType.Binary, true, token);
        Assert.Equal(WebSocketMessageType.Binary, await pending.DefaultTimeout());
        Assert.Equal(frame, reader.Message.ToArray());

        // A close ends it, as before.
        await sending.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "bye", token);
        Assert.Equal(WebSocketMessageType.Close, await reader.ReceiveAsync(reading, token).AsTask().DefaultTimeout());
        Assert.Equal(WebSocketCloseStatus.NormalClosure, reading.CloseStatus);
    }

    [Fact]
    public async Task A_message_larger_than_the_limit_is_refused_and_its_buffer_returned_on_dispose()
    {
        await using var pair = await KestrelPair.StartAsync(new WebSocketAcceptContext());
        var reader = new V3MessageReader();
        var token = TestTimeouts.Token();
        var pending = reader.ReceiveAsync(pair.Server, token).AsTask();
        var piece = new byte[256 * 1024];
        var send = Task.Run(async () =>
        {
            for (var i = 0; i < 5; i++)
            {
                await pair.Client!.SendAsync(piece, WebSocketMessageType.Binary, false, token);
            }
        });
        await Assert.ThrowsAsync<InvalidDataException>(() => pending.DefaultTimeout());
        Assert.True(reader.HoldsBuffer);
        reader.Dispose();
        Assert.False(reader.HoldsBuffer);
        pair.Server.Abort();
        try
        {
            await send.DefaultTimeout(); // it may have finished into the socket buffers, or failed on the abort
        }
        catch (WebSocketException)
        {
        }
    }

    /// <summary>
    /// Keep-alive both ways while the reader waits in its zero-byte receive: it must answer the peer's pings (the peer
    /// counts our pongs), and take the peer's pongs to its own pings, or its keep-alive timeout would abort it. Its
    /// pings are at least an interval apart, so twenty of them span twice that timeout.
    /// </summary>
    [Theory]
    [InlineData(Side.Router)]
    [InlineData(Side.Connector)]
    public async Task An_idle_reader_answers_pings_and_takes_pongs_so_keep_alive_holds_both_ways(Side side)
    {
        var interval = TimeSpan.FromMilliseconds(100);
        var timeout = TimeSpan.FromSeconds(1);
        const int Enough = 20;
        var token = TestTimeouts.Token();

        await using var server = side == Side.Router
            ? await KestrelPair.StartAsync(new WebSocketAcceptContext { KeepAliveInterval = interval, KeepAliveTimeout = timeout }, rawClientKeepAlive: (interval, timeout))
            : null;
        using var listener = side == Side.Connector ? new RawWebSocketPeer.Listener() : null;
        using var client = side == Side.Connector ? new ClientWebSocket() : null;
        RawWebSocketPeer peer;
        WebSocket reading;
        if (server is not null)
        {
            (reading, peer) = (server.Server, server.RawClient!);
        }
        else
        {
            client!.Options.KeepAliveInterval = interval;
            client.Options.KeepAliveTimeout = timeout;
            var connect = client.ConnectAsync(listener!.Uri, token);
            peer = await listener.AcceptAsync(null, [], interval, timeout);
            await connect.DefaultTimeout();
            reading = client;
        }

        await using var peerTeardown = peer;
        var peerReceive = peer.ReceiveAsync(token); // the peer answers our pings while it receives
        using var reader = new V3MessageReader();
        var pending = reader.ReceiveAsync(reading, token).AsTask();

        await peer.Incoming.WhenAsync(c => c.Pings >= Enough && c.Pongs >= Enough).DefaultTimeout();
        Assert.Equal(WebSocketState.Open, reading.State);
        Assert.False(pending.IsCompleted);
        Assert.False(reader.HoldsBuffer);
        Assert.Equal(0, peer.Incoming.DataFrames);

        var message = RandomBytes(5000);
        await peer.Socket.SendAsync(message, WebSocketMessageType.Binary, true, token);
        Assert.Equal(WebSocketMessageType.Binary, await pending.DefaultTimeout());
        Assert.Equal(message, reader.Message.ToArray());

        await reading.SendAsync("done"u8.ToArray(), WebSocketMessageType.Binary, true, token);
        var (type, data) = await peerReceive.DefaultTimeout();
        Assert.Equal(WebSocketMessageType.Binary, type);
        Assert.Equal("done"u8.ToArray(), data);
    }

    [Theory]
    [InlineData(Side.Router)]
    [InlineData(Side.Connector)]
    public async Task A_large_payload_is_handed_over_in_the_readers_own_buffer_and_a_small_one_is_copied(Side side)
    {
        await using var pair = await KestrelPair.StartAsync(new WebSocketAcceptContext());
        var (reading, sending) = pair.Ends(side);
        using var reader = new V3MessageReader();
        var token = TestTimeouts.Token();

        // A full DATA message: its payload is taken without a copy, in the very array the reader filled.
        var frame = RandomBytes(PeerMessage);
        await sending.SendAsync(frame, WebSocketMessageType.Binary, true, token);
        Assert.Equal(WebSocketMessageType.Binary, await reader.ReceiveAsync(reading, token).AsTask().DefaultTimeout());
        Assert.True(System.Runtime.InteropServices.MemoryMarshal.TryGetArray(reader.Message, out var filled));
        var payload = new V3Payload(reader, V3Frame.PrefixLength);
        Assert.Equal(PeerMessage - V3Frame.PrefixLength, payload.Length);
        var taken = payload.ToPooled(out var offset);
        Assert.Same(filled.Array, taken);
        Assert.Equal(V3Frame.PrefixLength, offset);
        Assert.Equal(frame.AsSpan(V3Frame.PrefixLength).ToArray(), taken.AsSpan(offset, PeerMessage - V3Frame.PrefixLength).ToArray());
        Assert.False(reader.HoldsBuffer);
        Assert.Equal(0, reader.Message.Length);

        // The next message goes into a new array, at once as large as the one given away (no regrowth by copying),
        // and the taken one is untouched by it.
        var second = RandomBytes(PeerMessage);
        await sending.SendAsync(second, WebSocketMessageType.Binary, true, token);
        Assert.Equal(WebSocketMessageType.Binary, await reader.ReceiveAsync(reading, token).AsTask().DefaultTimeout());
        Assert.Equal(second, reader.Message.ToArray());
        Assert.True(System.Runtime.InteropServices.MemoryMarshal.TryGetArray(reader.Message, out var refilled));
        Assert.NotSame(taken, refilled.Array);
        Assert.True(refilled.Array!.Length >= taken.Length);
        Assert.Equal(frame.AsSpan(V3Frame.PrefixLength).ToArray(), taken.AsSpan(offset, PeerMessage - V3Frame.PrefixLength).ToArray());
        System.Buffers.ArrayPool<byte>.Shared.Return(taken);

        // A small payload is copied: the reader keeps its buffer.
        var small = RandomBytes(V3Frame.PrefixLength + 100);
        await sending.SendAsync(small, WebSocketMessageType.Binary, true, token);
        Assert.Equal(WebSocketMessageType.Binary, await reader.ReceiveAsync(reading, token).AsTask().DefaultTimeout());
        var copy = new V3Payload(reader, V3Frame.PrefixLength).ToPooled(out var smallOffset);
        Assert.True(reader.HoldsBuffer);
        Assert.Equal(small.AsSpan(V3Frame.PrefixLength).ToArray(), copy.AsSpan(smallOffset, 100).ToArray());
        System.Buffers.ArrayPool<byte>.Shared.Return(copy);
    }

    private static byte[] RandomBytes(int length)
    {
        var bytes = new byte[length];
        Random.Shared.NextBytes(bytes);
        return bytes;
    }

    /// <summary>A Kestrel server on 127.0.0.1:0 that accepts one WebSocket, and a client connected to it.</summary>
    private sealed class KestrelPair : IAsyncDisposable
    {
        /// <summary>The socket the reader under test reads on <paramref name="side"/>, and the one that sends to it.</summary>
        public (WebSocket Reading, WebSocket Sending) Ends(Side side) =>
            side == Side.Router ? (Server, Client!) : (Client!, Server);

        private readonly WebApplication _app;
        private readonly TaskCompletionSource _release;

        private KestrelPair(WebApplication app, TaskCompletionSource release, WebSocket server, ClientWebSocket? client, RawWebSocketPeer? rawClient)
        {
            _app = app;
            _release = release;
            Server = server;
            Client = client;
            RawClient = rawClient;
        }

        /// <summary>The socket Kestrel accepted.</summary>
        public WebSocket Server { get; }

        /// <summary>The client, when it is a <see cref="ClientWebSocket"/>.</summary>
        public ClientWebSocket? Client { get; }

        /// <summary>The client, when it is a frame-counting raw peer.</summary>
        public RawWebSocketPeer? RawClient { get; }

        /// <param name="accept">How Kestrel accepts the socket (keep-alive settings).</param>
        /// <param name="rawClientKeepAlive">When set, the client is a <see cref="RawWebSocketPeer"/> pinging at this interval.</param>
        public static async Task<KestrelPair> StartAsync(WebSocketAcceptContext accept, (TimeSpan Interval, TimeSpan Timeout)? rawClientKeepAlive = null)
        {
            var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [] });
            builder.Configuration.Sources.Clear();
            builder.Logging.ClearProviders();
            builder.WebHost.ConfigureKestrel(k => k.Listen(System.Net.IPAddress.Loopback, 0));
            var app = builder.Build();
            var accepted = new TaskCompletionSource<WebSocket>(TaskCreationOptions.RunContinuationsAsynchronously);
            var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            app.UseWebSockets();
            app.Run(async context =>
            {
                using var socket = await context.WebSockets.AcceptWebSocketAsync(accept);
                accepted.TrySetResult(socket);
                await release.Task;
                socket.Abort();
            });
            await app.StartAsync().DefaultTimeout();
            var address = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());
            var uri = new Uri($"ws://{address.Authority}/ws");
            if (rawClientKeepAlive is { } keepAlive)
            {
                var raw = await RawWebSocketPeer.ConnectAsync(uri, [], keepAlive.Interval, keepAlive.Timeout);
                return new KestrelPair(app, release, await accepted.Task.DefaultTimeout(), null, raw);
            }

            var client = new ClientWebSocket();
            await client.ConnectAsync(uri, TestTimeouts.Token()).DefaultTimeout();
            return new KestrelPair(app, release, await accepted.Task.DefaultTimeout(), client, null);
        }

        public async ValueTask DisposeAsync()
        {
            _release.TrySetResult();
            Client?.Abort();
            Client?.Dispose();
            if (RawClient is not null)
            {
                await RawClient.DisposeAsync();
            }

            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            try
            {
                await _app.StopAsync(cts.Token);
            }
            catch (OperationCanceledException)
            {
            }

            await _app.DisposeAsync();
        }
    }
}
