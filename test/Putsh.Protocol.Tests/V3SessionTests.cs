using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Net.WebSockets;
using System.Text;
using Putsh.Protocol.V3;
using Putsh.Protocol.WebSockets;

namespace Putsh.Protocol.Tests;

/// <summary>
/// The cranker_3.0 session that router and connector share, against a raw peer over a real loopback connection:
/// streams opened by HEADER at the connector, acknowledgements that never wait, strays and oversized messages that
/// close the session with their codes, the close handshake, and a close once idle.
/// </summary>
public sealed class V3SessionTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    private sealed class RecordingStream : IV3Stream
    {
        public TaskCompletionSource<string> Head { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public TaskCompletionSource<(int Code, string Message)> Reset { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public TaskCompletionSource<V3SessionEnd> Ended { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public ConcurrentQueue<string> Data { get; } = new();

        public void OnHeadPiece(ReadOnlySpan<byte> utf8Piece, byte flags) => Head.TrySetResult(Encoding.UTF8.GetString(utf8Piece));

        public void OnData(V3Payload payload, bool endStream) => Data.Enqueue(Encoding.UTF8.GetString(payload.Span));

        public void OnReset(int code, string message) => Reset.TrySetResult((code, message));

        public void OnWindowUpdate(int consumed)
        {
        }

        public void OnSessionEnded(V3SessionEnd end, string? detail) => Ended.TrySetResult(end);
    }

    private sealed class TestSession(WebSocket socket, V3Role role, V3SessionSettings settings) : V3Session(socket, role, settings, TimeProvider.System)
    {
        public ConcurrentDictionary<int, RecordingStream> Opened { get; } = new();

        public TaskCompletionSource<V3SessionEnd> Ended { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        protected override IV3Stream? OpenInbound(int id) => Opened.GetOrAdd(id, static _ => new RecordingStream());

        protected override void OnEnded(V3SessionEnd end, int? closeCode, string? detail) => Ended.TrySetResult(end);
    }

    private static async Task<(RawPeerPair Pair, TestSession Session, Task Run)> StartAsync(V3Role role, V3SessionSettings? settings = null, Func<PutshWebSocketOptions, PutshWebSocketOptions>? configure = null, int? peerReceiveBuffer = null, int? socketSendBuffer = null)
    {
        // The router accepts connectors' sockets (server end); the connector dials (client end).
        var pair = await RawPeerPair.CreateAsync(socketIsServer: role == V3Role.Router, configure, peerReceiveBuffer, socketSendBuffer);
        var session = new TestSession(pair.Socket, role, settings ?? new V3SessionSettings());
        return (pair, session, session.RunAsync(CancellationToken.None));
    }

    private static byte[] Header(int id, string text)
    {
        var buffer = new byte[V3Frame.PrefixLength + Encoding.UTF8.GetByteCount(text)];
        var n = V3Frame.WriteHeader(buffer, id, V3Flags.EndHeader, text);
        return buffer[..n];
    }

    private static byte[] Data(int id, string text, byte flags = V3Flags.None)
    {
        var buffer = new byte[V3Frame.PrefixLength + Encoding.UTF8.GetByteCount(text)];
        V3Frame.WritePrefix(buffer, V3Type.Data, flags, id);
        Encoding.UTF8.GetBytes(text, buffer.AsSpan(V3Frame.PrefixLength));
        return buffer;
    }

    private static int CloseCode(byte[] payload) => BinaryPrimitives.ReadUInt16BigEndian(payload);

    [Fact]
    public async Task At_the_connector_a_HEADER_opens_a_stream_is_acknowledged_and_its_DATA_follows()
    {
        var (pair, session, run) = await StartAsync(V3Role.Connector);
        await using var peer = pair;
        using var owned = session;

        var head = "GET /a HTTP/1.1\nhost:x\n";
        await pair.SendAsync(fin: true, WsOpcode.Binary, Header(7, head));
        await pair.SendAsync(fin: true, WsOpcode.Binary, Data(7, "body", V3Flags.EndStream));

        var ack = await pair.ReadUntilAsync(WsOpcode.Binary);
        Assert.True(V3Frame.TryReadPrefix(ack.Payload, out var type, out _, out var id));
        Assert.Equal((V3Type.WindowUpdate, 7), (type, id));
        Assert.Equal(Encoding.UTF8.GetByteCount(head), V3Frame.ReadWindowUpdate(ack.Payload.AsSpan(V3Frame.PrefixLength)));

        var stream = session.Opened[7];
        Assert.Equal(head, await stream.Head.Task.WaitAsync(Timeout));
        await pair.SendAsync(fin: true, WsOpcode.Close, [0x03, 0xE8]);
        await run.WaitAsync(Timeout);
        Assert.Equal(["body"], stream.Data);
        Assert.Equal(V3SessionEnd.Completed, await stream.Ended.Task.WaitAsync(Timeout));
    }

    [Fact]
    public async Task The_receive_loop_acknowledges_and_dispatches_while_its_own_sends_wait_for_a_peer_that_does_not_read()
    {
        // Both ends' receive loops once awaited their acknowledgements: with each end's queue full of body data for a
        // peer that was itself stuck acknowledging, neither read again.
        var (pair, session, run) = await StartAsync(
            V3Role.Connector,
            configure: o => new PutshWebSocketOptions { IsServer = o.IsServer, MaxQueuedBytes = 64 * 1024 },
            peerReceiveBuffer: 4096,
            socketSendBuffer: 4096);
        await using var peer = pair;
        using var owned = session;

        var chunk = new byte[V3Frame.PrefixLength + 16 * 1024];
        ValueTask pending = default;
        for (var i = 0; i < 10_000; i++)
        {
            pending = session.Sender.SendDataAsync(chunk, 16 * 1024, 1, V3Flags.None, null, CancellationToken.None);
            if (!pending.IsCompleted)
            {
                break;
            }
        }

        Assert.False(pending.IsCompleted, "sends never filled the connection");

        await pair.SendAsync(fin: true, WsOpcode.Binary, Header(3, "GET / HTTP/1.1\n"));
        await pair.SendAsync(fin: true, WsOpcode.Binary, Header(5, "GET / HTTP/1.1\n"));
        Assert.Equal("GET / HTTP/1.1\n", await session.Opened.GetOrAdd(5, _ => new RecordingStream()).Head.Task.WaitAsync(Timeout));
        Assert.False(pending.IsCompleted);

        // Once the peer reads, the stalled data leaves and both acknowledgements follow it.
        var acked = new List<int>();
        while (acked.Count < 2)
        {
            var frame = await pair.ReadUntilAsync(WsOpcode.Binary);
            if (V3Frame.TryReadPrefix(frame.Payload, out var type, out _, out var id) && type == V3Type.WindowUpdate)
            {
                acked.Add(id);
            }
        }

        Assert.Equal([3, 5], acked);
        await pending.AsTask().WaitAsync(Timeout);
        session.Abort();
        await run.WaitAsync(Timeout);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Messages_for_streams_this_end_does_not_have_past_the_allowance_close_the_session_with_1002(bool router)
    {
        var (pair, session, run) = await StartAsync(router ? V3Role.Router : V3Role.Connector, new V3SessionSettings { MaxStrays = 3 });
        await using var peer = pair;
        using var owned = session;

        for (var i = 0; i < 4; i++)
        {
            await pair.SendAsync(fin: true, WsOpcode.Binary, Data(100 + i, "stray"));
        }

        var close = await pair.ReadUntilAsync(WsOpcode.Close);
        Assert.Equal(1002, CloseCode(close.Payload));
        await pair.SendAsync(fin: true, WsOpcode.Close, [0x03, 0xEA]);
        await run.WaitAsync(Timeout);
        Assert.Equal(V3SessionEnd.ProtocolError, await session.Ended.Task.WaitAsync(Timeout));
    }

    [Fact]
    public async Task A_message_larger_than_allowed_closes_the_session_with_1009_and_fails_its_streams()
    {
        var (pair, session, run) = await StartAsync(V3Role.Connector, new V3SessionSettings { MaxMessage = 100 });
        await using var peer = pair;
        using var owned = session;

        await pair.SendAsync(fin: true, WsOpcode.Binary, Header(1, "POST / HTTP/1.1\n"));
        var stream = session.Opened.GetOrAdd(1, _ => new RecordingStream());
        await stream.Head.Task.WaitAsync(Timeout);
        await pair.SendAsync(fin: true, WsOpcode.Binary, Data(1, new string('x', 200)));

        var close = await pair.ReadUntilAsync(WsOpcode.Close);
        Assert.Equal(1009, CloseCode(close.Payload));
        Assert.Equal(V3SessionEnd.ProtocolError, await stream.Ended.Task.WaitAsync(Timeout));
        session.Abort();
        await run.WaitAsync(Timeout);
    }

    [Fact]
    public async Task A_peer_close_other_than_1000_fails_the_open_streams_and_is_echoed()
    {
        var (pair, session, run) = await StartAsync(V3Role.Router);
        await using var peer = pair;
        using var owned = session;

        var stream = new RecordingStream();
        Assert.True(session.TryOpen(stream, out var id));
        Assert.Equal(1, id);
        await pair.SendAsync(fin: true, WsOpcode.Close, [0x03, 0xF3]); // 1011

        Assert.Equal(V3SessionEnd.PeerError, await stream.Ended.Task.WaitAsync(Timeout));
        var echo = await pair.ReadUntilAsync(WsOpcode.Close);
        Assert.Equal(1000, CloseCode(echo.Payload));
        await run.WaitAsync(Timeout);
        Assert.False(session.TryOpen(new RecordingStream(), out _));
    }

    [Fact]
    public async Task A_reset_forgets_the_stream_and_a_close_once_idle_follows_the_last_stream()
    {
        var (pair, session, run) = await StartAsync(V3Role.Router);
        await using var peer = pair;
        using var owned = session;

        var first = new RecordingStream();
        var second = new RecordingStream();
        Assert.True(session.TryOpen(first, out var a));
        Assert.True(session.TryOpen(second, out var b));
        _ = session.CloseWhenIdleAsync(WebSocketCloseStatus.EndpointUnavailable, "Going away");
        Assert.False(session.TryOpen(new RecordingStream(), out _));

        var rst = new byte[64];
        var n = V3Frame.WriteRst(rst, a, 1011, "target failed");
        await pair.SendAsync(fin: true, WsOpcode.Binary, rst.AsSpan(0, n));
        Assert.Equal((1011, "target failed"), await first.Reset.Task.WaitAsync(Timeout));
        Assert.Equal(1, session.InFlight);

        session.Forget(b);
        var close = await pair.ReadUntilAsync(WsOpcode.Close);
        Assert.Equal(1001, CloseCode(close.Payload));
        await pair.SendAsync(fin: true, WsOpcode.Close, [0x03, 0xE8]);
        await run.WaitAsync(Timeout);
        Assert.False(second.Ended.Task.IsCompleted); // forgotten before the end: not told of it
    }

    [Fact]
    public async Task At_the_connector_a_request_that_crosses_its_close_is_never_started()
    {
        var (pair, session, run) = await StartAsync(V3Role.Connector);
        await using var peer = pair;
        using var owned = session;

        await session.CloseAsync(WebSocketCloseStatus.NormalClosure, "");
        await pair.ReadUntilAsync(WsOpcode.Close);
        await pair.SendAsync(fin: true, WsOpcode.Binary, Header(1, "GET / HTTP/1.1\n"));
        await pair.SendAsync(fin: true, WsOpcode.Close, [0x03, 0xE8]);

        await run.WaitAsync(Timeout);
        Assert.Empty(session.Opened);
        Assert.Equal(V3SessionEnd.Completed, await session.Ended.Task.WaitAsync(Timeout));
    }
}
