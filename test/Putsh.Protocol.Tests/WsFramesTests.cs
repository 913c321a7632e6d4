using System.Buffers;
using System.Net.WebSockets;
using System.Text;
using Putsh.Protocol.WebSockets;

namespace Putsh.Protocol.Tests;

/// <summary>RFC 6455 framing (§5): the examples of §5.7 byte for byte, the header rules of §5.2, masking (§5.3), and frames exchanged with .NET's own WebSocket.</summary>
public sealed class WsFramesTests
{
    private static byte[] Hex(string hex) => Convert.FromHexString(hex.Replace(" ", "", StringComparison.Ordinal));

    private static (WsReadStatus Status, WsFrameHeader Header, int Code, long Consumed) Read(byte[] bytes, bool expectMasked, long max = 1 << 20)
    {
        var reader = new SequenceReader<byte>(new ReadOnlySequence<byte>(bytes));
        var status = WsFrameReader.TryReadHeader(ref reader, expectMasked, max, out var header, out var code, out _);
        return (status, header, code, reader.Consumed);
    }

    [Theory]
    [InlineData("81 05 48 65 6c 6c 6f", false, true, 0x1, 5, 2)] // a single-frame unmasked text message
    [InlineData("81 85 37 fa 21 3d 7f 9f 4d 51 58", true, true, 0x1, 5, 6)] // the same, masked
    [InlineData("01 03 48 65 6c", false, false, 0x1, 3, 2)] // the first of a fragmented message
    [InlineData("80 02 6c 6f", false, true, 0x0, 2, 2)] // and its last
    [InlineData("89 05 48 65 6c 6c 6f", false, true, 0x9, 5, 2)] // an unmasked ping
    [InlineData("8a 85 37 fa 21 3d 7f 9f 4d 51 58", true, true, 0xA, 5, 6)] // a masked pong
    [InlineData("82 7E 01 00", false, true, 0x2, 256, 4)] // 256 bytes of binary
    [InlineData("82 7F 00 00 00 00 00 01 00 00", false, true, 0x2, 65536, 10)] // 64 KiB of binary
    public void The_examples_of_section_5_7_read_as_the_RFC_says(string hex, bool masked, bool fin, int opcode, long length, int headerLength)
    {
        var (status, header, _, consumed) = Read(Hex(hex), masked);
        Assert.Equal(WsReadStatus.Header, status);
        Assert.Equal((fin, (WsOpcode)opcode, masked, length, headerLength), (header.Fin, header.Opcode, header.Masked, header.PayloadLength, header.HeaderLength));
        Assert.Equal(headerLength, consumed);
    }

    [Fact]
    public void A_masked_payload_unmasks_to_its_text()
    {
        var bytes = Hex("81 85 37 fa 21 3d 7f 9f 4d 51 58");
        var (_, header, _, _) = Read(bytes, expectMasked: true);
        var payload = bytes.AsSpan(header.HeaderLength).ToArray();
        WsMask.Apply(payload, header.MaskKey, 0);
        Assert.Equal("Hello", Encoding.UTF8.GetString(payload));
    }

    [Theory]
    [InlineData("81 05 48 65 6c 6c 6f", false)]
    [InlineData("81 85 37 fa 21 3d 7f 9f 4d 51 58", true)]
    [InlineData("82 7E 01 00", false)]
    [InlineData("82 FF 00 00 00 00 00 01 00 00 01 02 03 04", true)]
    public void A_header_cut_anywhere_is_incomplete_and_nothing_is_consumed(string hex, bool masked)
    {
        var (_, whole, _, _) = Read(Hex(hex), masked);
        var bytes = Hex(hex);
        for (var cut = 0; cut < whole.HeaderLength; cut++)
        {
            var (status, _, _, consumed) = Read(bytes[..cut], masked);
            Assert.Equal((WsReadStatus.Incomplete, 0L), (status, consumed));
        }
    }

    [Theory]
    [InlineData("C1 05", false, 1002)] // RSV1 without an extension
    [InlineData("A1 05", false, 1002)] // RSV2
    [InlineData("83 00", false, 1002)] // opcode 3 is reserved
    [InlineData("8B 00", false, 1002)] // opcode 0xB is reserved
    [InlineData("09 00", false, 1002)] // a fragmented ping
    [InlineData("89 7E 00 7E", false, 1002)] // a ping of 126 bytes
    [InlineData("81 05", true, 1002)] // a server must refuse an unmasked frame
    [InlineData("81 85 00 00 00 00", false, 1002)] // a client must refuse a masked one
    [InlineData("82 7F 80 00 00 00 00 00 00 00", false, 1002)] // the top bit of a 64-bit length
    [InlineData("82 7F 00 00 00 00 00 10 00 01", false, 1009)] // past the endpoint's limit
    public void Headers_the_RFC_forbids_or_past_the_limit_are_refused_with_their_close_code(string hex, bool expectMasked, int code)
    {
        var (status, _, closeCode, _) = Read(Hex(hex), expectMasked, max: 1 << 20);
        Assert.Equal((WsReadStatus.Invalid, code), (status, closeCode));
    }

    [Theory]
    [InlineData("Hello", null, "81 05 48 65 6c 6c 6f")]
    [InlineData("Hello", 0x3d21fa37, "81 85 37 fa 21 3d 7f 9f 4d 51 58")]
    public void Frames_are_written_as_the_RFC_examples(string text, int? key, string expected)
    {
        var output = new ArrayBufferWriter<byte>();
        WsFrameWriter.WriteFrame(output, fin: true, WsOpcode.Text, Encoding.UTF8.GetBytes(text), key);
        Assert.Equal(Hex(expected), output.WrittenSpan.ToArray());
    }

    [Theory]
    [InlineData(125, "82 7D")]
    [InlineData(126, "82 7E 00 7E")]
    [InlineData(65535, "82 7E FF FF")]
    [InlineData(65536, "82 7F 00 00 00 00 00 01 00 00")]
    public void The_shortest_length_form_is_written(long length, string expected)
    {
        var header = new byte[WsFrameWriter.MaxHeaderLength];
        var n = WsFrameWriter.WriteHeader(header, fin: true, WsOpcode.Binary, length, maskKey: null);
        Assert.Equal(Hex(expected), header[..n]);
    }

    [Fact]
    public void Masking_in_pieces_at_any_offset_equals_masking_the_whole()
    {
        var random = new Random(42);
        var data = new byte[1000];
        random.NextBytes(data);
        const int key = unchecked((int)0xA1B2C3D4);
        var whole = data.ToArray();
        WsMask.Apply(whole, key, 0);
        foreach (var cut in new[] { 1, 3, 7, 13, 64, 333, 999 })
        {
            var pieces = data.ToArray();
            WsMask.Apply(pieces.AsSpan(0, cut), key, 0);
            WsMask.Apply(pieces.AsSpan(cut), key, cut);
            Assert.Equal(whole, pieces);
        }

        var copied = new byte[data.Length];
        WsMask.Copy(data, copied, key, 0);
        Assert.Equal(whole, copied);
        WsMask.Apply(copied, key, 0);
        Assert.Equal(data, copied); // masking twice gives the data back
    }

    [Fact]
    public void Mask_keys_are_drawn_in_bulk_and_differ()
    {
        var keys = Enumerable.Range(0, 3000).Select(_ => WsMaskKeys.Next()).ToList();
        Assert.True(keys.Distinct().Count() > 2990, "keys repeat far more than chance allows");
    }

    [Fact]
    public async Task Frames_we_write_masked_are_read_by_dotnets_server_WebSocket_and_its_client_frames_by_our_reader()
    {
        // Ours, as a client would send them: a text message in two fragments with a ping between, then a binary one.
        var wire = new ArrayBufferWriter<byte>();
        WsFrameWriter.WriteFrame(wire, fin: false, WsOpcode.Text, "Hel"u8, WsMaskKeys.Next());
        WsFrameWriter.WriteFrame(wire, fin: true, WsOpcode.Ping, "p"u8, WsMaskKeys.Next());
        WsFrameWriter.WriteFrame(wire, fin: true, WsOpcode.Continuation, "lo"u8, WsMaskKeys.Next());
        var big = new byte[70_000];
        new Random(7).NextBytes(big);
        WsFrameWriter.WriteFrame(wire, fin: true, WsOpcode.Binary, big, WsMaskKeys.Next());

        var toServer = new MemoryStream(wire.WrittenSpan.ToArray());
        var fromServer = new MemoryStream();
        using var server = WebSocket.CreateFromStream(new Duplex(toServer, fromServer), new WebSocketCreationOptions { IsServer = true, KeepAliveInterval = Timeout.InfiniteTimeSpan });
        var buffer = new byte[100_000];
        var text = await ReceiveWholeAsync(server, buffer);
        Assert.Equal((WebSocketMessageType.Text, "Hello"), (text.Type, Encoding.UTF8.GetString(buffer, 0, text.Count)));
        var binary = await ReceiveWholeAsync(server, buffer);
        Assert.Equal(big, buffer[..binary.Count]);

        // The server answered our ping with an unmasked pong: our reader, as a client, takes it.
        var pong = fromServer.ToArray();
        var (status, header, _, _) = Read(pong, expectMasked: false);
        Assert.Equal((WsReadStatus.Header, WsOpcode.Pong, 1L), (status, header.Opcode, header.PayloadLength));
        Assert.Equal((byte)'p', pong[header.HeaderLength]);

        // .NET's client masks; our reader, as a server, unmasks.
        var clientOut = new MemoryStream();
        using var client = WebSocket.CreateFromStream(new Duplex(new MemoryStream(), clientOut), new WebSocketCreationOptions { IsServer = false, KeepAliveInterval = Timeout.InfiniteTimeSpan });
        await client.SendAsync("from dotnet"u8.ToArray(), WebSocketMessageType.Binary, endOfMessage: true, CancellationToken.None);
        var sent = clientOut.ToArray();
        var (clientStatus, clientHeader, _, _) = Read(sent, expectMasked: true);
        Assert.Equal(WsReadStatus.Header, clientStatus);
        var payload = sent.AsSpan(clientHeader.HeaderLength, (int)clientHeader.PayloadLength).ToArray();
        WsMask.Apply(payload, clientHeader.MaskKey, 0);
        Assert.Equal("from dotnet", Encoding.UTF8.GetString(payload));
    }

    private static async Task<(WebSocketMessageType Type, int Count)> ReceiveWholeAsync(WebSocket socket, byte[] buffer)
    {
        var count = 0;
        while (true)
        {
            var result = await socket.ReceiveAsync(buffer.AsMemory(count), CancellationToken.None);
            count += result.Count;
            if (result.EndOfMessage)
            {
                return (result.MessageType, count);
            }
        }
    }

    /// <summary>A stream that reads one and writes another, as a socket does.</summary>
    private sealed class Duplex(Stream input, Stream output) : Stream
    {
        public override bool CanRead => true;

        public override bool CanWrite => true;

        public override bool CanSeek => false;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count) => input.Read(buffer, offset, count);

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) => input.ReadAsync(buffer, cancellationToken);

        public override void Write(byte[] buffer, int offset, int count) => output.Write(buffer, offset, count);

        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default) => output.WriteAsync(buffer, cancellationToken);

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();
    }
}
