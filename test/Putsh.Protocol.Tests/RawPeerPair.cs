using System.Buffers;
using System.Net;
using System.Net.Sockets;
using Putsh.Protocol.WebSockets;

namespace Putsh.Protocol.Tests;

/// <summary>A putsh WebSocket under test on one end of a loopback connection, and the raw peer on the other.</summary>
internal sealed class RawPeerPair : IAsyncDisposable
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);
    private readonly List<byte> _received = [];
    private readonly byte[] _buffer = new byte[64 * 1024];

    public required PutshWebSocket Socket { get; init; }

    public required System.Net.Sockets.Socket Peer { get; init; }

    public required bool SocketIsServer { get; init; }

    public static async Task<RawPeerPair> CreateAsync(bool socketIsServer, Func<PutshWebSocketOptions, PutshWebSocketOptions>? configure = null, int? peerReceiveBuffer = null, int? socketSendBuffer = null)
    {
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(1);
        var peer = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        if (peerReceiveBuffer is { } size)
        {
            peer.ReceiveBufferSize = size;
        }

        var accept = listener.AcceptAsync();
        await peer.ConnectAsync(listener.LocalEndPoint!);
        var mine = await accept.WaitAsync(Timeout);
        mine.NoDelay = true;
        if (socketSendBuffer is { } send)
        {
            mine.SendBufferSize = send;
        }

        var options = new PutshWebSocketOptions { IsServer = socketIsServer };
        options = configure?.Invoke(options) ?? options;
        return new RawPeerPair { Socket = new PutshWebSocket(WsTransport.ForSocket(mine), options), Peer = peer, SocketIsServer = socketIsServer };
    }

    /// <summary>Writes one frame as the peer would: masked when the socket under test is the server.</summary>
    public Task SendAsync(bool fin, WsOpcode opcode, ReadOnlySpan<byte> payload) => SendRawAsync(Frame(fin, opcode, payload, masked: SocketIsServer));

    public async Task SendRawAsync(byte[] bytes)
    {
        var sent = 0;
        while (sent < bytes.Length)
        {
            sent += await Peer.SendAsync(bytes.AsMemory(sent), SocketFlags.None).AsTask().WaitAsync(Timeout);
        }
    }

    public static byte[] Frame(bool fin, WsOpcode opcode, ReadOnlySpan<byte> payload, bool masked)
    {
        var writer = new ArrayBufferWriter<byte>();
        WsFrameWriter.WriteFrame(writer, fin, opcode, payload, masked ? 0x12345678 : null);
        return writer.WrittenSpan.ToArray();
    }

    /// <summary>Reads the next whole frame the socket under test sent, unmasked; null at the end of the connection.</summary>
    public async Task<(WsFrameHeader Header, byte[] Payload)?> ReadFrameAsync()
    {
        while (true)
        {
            var sequence = new ReadOnlySequence<byte>(_received.ToArray());
            var reader = new SequenceReader<byte>(sequence);
            var status = WsFrameReader.TryReadHeader(ref reader, expectMasked: !SocketIsServer, long.MaxValue, out var header, out _, out var reason);
            Assert.NotEqual(WsReadStatus.Invalid, status);
            if (status == WsReadStatus.Header && sequence.Length >= header.HeaderLength + header.PayloadLength)
            {
                var payload = sequence.Slice(header.HeaderLength, header.PayloadLength).ToArray();
                if (header.Masked)
                {
                    WsMask.Apply(payload, header.MaskKey, 0);
                }

                _received.RemoveRange(0, (int)(header.HeaderLength + header.PayloadLength));
                return (header, payload);
            }

            var n = await Peer.ReceiveAsync(_buffer.AsMemory(), SocketFlags.None).AsTask().WaitAsync(Timeout);
            if (n == 0)
            {
                Assert.Empty(_received);
                return null;
            }

            _received.AddRange(_buffer.AsSpan(0, n));
        }
    }

    /// <summary>Reads frames until one of <paramref name="opcode"/>, skipping others.</summary>
    public async Task<(WsFrameHeader Header, byte[] Payload)> ReadUntilAsync(WsOpcode opcode)
    {
        while (true)
        {
            var frame = await ReadFrameAsync() ?? throw new InvalidOperationException("The connection ended before a " + opcode + " frame.");
            if (frame.Header.Opcode == opcode)
            {
                return frame;
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        Socket.Dispose();
        Peer.Dispose();
        await Task.CompletedTask;
    }
}
