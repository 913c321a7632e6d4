using System.Text;
using Putsh.Protocol.V3;

namespace Putsh.Protocol.Tests;

/// <summary>The allocation-free cranker_3.0 codec APIs (§5), checked byte for byte against the spec and the string APIs.</summary>
public class V3FrameCodecTests
{
    private static byte[] Hex(string hex) => Convert.FromHexString(hex.Replace(" ", "", StringComparison.Ordinal));

    // ---- HEADER ----

    [Fact]
    public void WriteHeader_WorkedExampleFromSpec()
    {
        // §5.9: router -> connector HEADER, flags 0x05, id 1.
        const string head = "GET /svc/hi HTTP/1.1\nHost:r\nvia:HTTP/1.1 muc\n\n";
        var buffer = new byte[V3Frame.MaxHeadPieceMessage];

        var n = V3Frame.WriteHeader(buffer, 1, V3Flags.EndHeader | V3Flags.EndStream, head);

        Assert.Equal(
            Hex("01 05 00 00 00 01 47 45 54 20 2F 73 76 63 2F 68 69 20 48 54 54 50 2F 31 2E 31 0A 48 6F 73 74 3A 72 0A"
                + "76 69 61 3A 48 54 54 50 2F 31 2E 31 20 6D 75 63 0A 0A"),
            buffer[..n]);
        Assert.Equal(6 + 0x2E, n);
    }

    [Fact]
    public void WriteHeader_EmptyPiece_IsJustThePrefix()
    {
        var buffer = new byte[16];

        Assert.Equal(6, V3Frame.WriteHeader(buffer, 0x01020304, V3Flags.EndHeader, ""));
        Assert.Equal(Hex("01 04 01 02 03 04"), buffer[..6]);
    }

    [Fact]
    public void WriteHeader_EncodesUtf8_AndALoneSurrogateAsReplacement()
    {
        var buffer = new byte[64];

        var n = V3Frame.WriteHeader(buffer, 7, V3Flags.None, "é😀\uD800");

        Assert.Equal(Hex("01 00 00 00 00 07 C3 A9 F0 9F 98 80 EF BF BD"), buffer[..n]);
    }

    [Fact]
    public void WriteHeader_WorstCasePieceFitsMaxHeadPieceMessage()
    {
        // 16000 three-byte characters: the largest payload a piece can have.
        var piece = new string('€', V3Frame.HeadPieceChars);
        var buffer = new byte[V3Frame.MaxHeadPieceMessage];

        Assert.Equal(V3Frame.MaxHeadPieceMessage, V3Frame.WriteHeader(buffer, 1, V3Flags.EndHeader, piece));
        Assert.True(V3Frame.MaxHeadPieceMessage <= 65536);
    }

    [Fact]
    public void ReadHeader_DecodesAPayloadIntoCharacters()
    {
        var payload = Encoding.UTF8.GetBytes("HTTP/1.1 200 OK\nx:é\n");
        var chars = new char[payload.Length];

        var n = V3Frame.ReadHeader(payload, chars);

        Assert.Equal("HTTP/1.1 200 OK\nx:é\n", new string(chars, 0, n));
        Assert.Equal(0, V3Frame.ReadHeader([], []));
    }

    // ---- head pieces ----

    public static TheoryData<int> HeadLengths() => new() { 0, 1, 400, 15999, 16000, 16001, 31999, 32000, 32001, 40000, 48000 };

    [Theory]
    [MemberData(nameof(HeadLengths))]
    public void EnumerateHeadPieces_CutsAsSplitHead(int length)
    {
        var head = new string('a', length);

        AssertSameAsSplitHead(head);
    }

    [Theory]
    [InlineData(15999)] // the 16000th character is the high surrogate: that piece is 15999 long
    [InlineData(15998)] // the pair is wholly inside the first piece
    [InlineData(16000)] // the pair starts the second piece
    [InlineData(31998)] // the same at the second boundary
    public void EnumerateHeadPieces_NeverSplitsASurrogatePair(int pairAt)
    {
        var chars = new string('x', 40000).ToCharArray();
        chars[pairAt] = '\uD83D';
        chars[pairAt + 1] = '\uDE00';
        var head = new string(chars);

        AssertSameAsSplitHead(head);
        foreach (var piece in V3Frame.EnumerateHeadPieces(head))
        {
            Assert.False(char.IsHighSurrogate(piece.Text[^1]));
            Assert.False(char.IsLowSurrogate(piece.Text[0]));
            Assert.True(piece.Text.Length <= V3Frame.HeadPieceChars);
        }
    }

    [Fact]
    public void EnumerateHeadPieces_SurrogateAtTheBoundary_ShiftsTheCut()
    {
        var head = new string('x', 15999) + "😀" + new string('y', 9);

        var lengths = new List<int>();
        foreach (var piece in V3Frame.EnumerateHeadPieces(head))
        {
            lengths.Add(piece.Text.Length);
        }

        Assert.Equal([15999, 11], lengths);
        Assert.Equal(15999, V3Frame.NextHeadPieceLength(head));
        Assert.Equal(2, V3Frame.CountHeadPieces(head));
    }

    [Fact]
    public void EnumerateHeadPieces_EmptyHead_IsOneEmptyLastPiece()
    {
        var count = 0;
        foreach (var piece in V3Frame.EnumerateHeadPieces(""))
        {
            Assert.True(piece.Text.IsEmpty);
            Assert.Equal(0, piece.Index);
            Assert.True(piece.IsLast);
            count++;
        }

        Assert.Equal(1, count);
        Assert.Equal(1, V3Frame.CountHeadPieces(""));
        Assert.Equal(0, V3Frame.NextHeadPieceLength(""));
    }

    [Fact]
    public void EncodingEveryPiece_ReproducesTheHeadAsUtf8()
    {
        var head = string.Concat(Enumerable.Repeat("name:välue 😀\n", 3000)); // 42000 chars, pairs at varied offsets
        var buffer = new byte[V3Frame.MaxHeadPieceMessage];
        var joined = new List<byte>();
        var flags = new List<byte>();
        foreach (var piece in V3Frame.EnumerateHeadPieces(head))
        {
            var n = V3Frame.WriteHeader(buffer, 3, V3Frame.HeadPieceFlags(piece.IsLast, endStream: true, endStreamOnEveryPiece: false), piece.Text);
            Assert.Equal(V3Type.Header, buffer[0]);
            flags.Add(buffer[1]);
            var payload = buffer.AsSpan(V3Frame.PrefixLength, n - V3Frame.PrefixLength);
            Assert.Equal(piece.Text.ToString(), Encoding.UTF8.GetString(payload)); // each piece is valid UTF-8 on its own
            joined.AddRange(payload.ToArray());
        }

        Assert.Equal(Encoding.UTF8.GetBytes(head), joined.ToArray());
        Assert.Equal(new byte[] { V3Flags.None, V3Flags.None, V3Flags.EndHeader | V3Flags.EndStream }, flags.ToArray());
    }

    [Theory]
    [InlineData(0, 1, false, false)]
    [InlineData(0, 1, true, false)]
    [InlineData(0, 3, true, true)]
    [InlineData(1, 3, true, false)]
    [InlineData(2, 3, true, true)]
    [InlineData(2, 3, false, true)]
    public void HeadPieceFlags_ByLastness_MatchesByIndex(int index, int count, bool endStream, bool everyPiece)
    {
        Assert.Equal(
            V3Frame.HeadPieceFlags(index, count, endStream, everyPiece),
            V3Frame.HeadPieceFlags(index == count - 1, endStream, everyPiece));
    }

    /// <summary>§5.3's cut written the plain way: 16000 characters, one fewer before a high surrogate.</summary>
    private static List<string> ReferenceSplit(string head)
    {
        var pieces = new List<string>();
        var start = 0;
        while (head.Length - start > 16000)
        {
            var length = char.IsHighSurrogate(head[start + 15999]) ? 15999 : 16000;
            pieces.Add(head.Substring(start, length));
            start += length;
        }

        pieces.Add(head[start..]);
        return pieces;
    }

    private static void AssertSameAsSplitHead(string head)
    {
        var expected = ReferenceSplit(head);
        var actual = new List<string>();
        var i = 0;
        foreach (var piece in V3Frame.EnumerateHeadPieces(head))
        {
            Assert.Equal(i, piece.Index);
            Assert.Equal(i == expected.Count - 1, piece.IsLast);
            actual.Add(piece.Text.ToString());
            i++;
        }

        Assert.Equal(expected, actual);
        Assert.Equal(expected.Count, V3Frame.CountHeadPieces(head));
        Assert.Equal(expected[0].Length, V3Frame.NextHeadPieceLength(head));
    }

    // ---- RST_STREAM ----

    [Fact]
    public void WriteRst_Span_WorkedExampleFromSpec()
    {
        var buffer = new byte[64];

        var n = V3Frame.WriteRst(buffer, 1, 1, "Client early closed".AsSpan(), V3Frame.MaxRstMessageBytes);

        Assert.Equal(Hex("03 00 00 00 00 01 00 00 00 01 43 6C 69 65 6E 74 20 65 61 72 6C 79 20 63 6C 6F 73 65 64"), buffer[..n]);
    }

    [Fact]
    public void WriteRst_Span_EmptyMessage_IsTenBytes()
    {
        var buffer = new byte[16];

        Assert.Equal(10, V3Frame.WriteRst(buffer, 2, 1011, ReadOnlySpan<char>.Empty, 123));
        Assert.Equal(Hex("03 00 00 00 00 02 00 00 03 F3"), buffer[..10]);
    }

    [Fact]
    public void WriteRst_Span_CutsAtTheLimit_NeverInsideACharacter()
    {
        var buffer = new byte[64];

        // "abc" + a 4-byte emoji: a limit of 5 bytes leaves "abc" (the emoji would not fit whole).
        var n = V3Frame.WriteRst(buffer, 1, 1, "abc😀".AsSpan(), maxMessageBytes: 5);
        Assert.Equal(Hex("03 00 00 00 00 01 00 00 00 01 61 62 63"), buffer[..n]);

        n = V3Frame.WriteRst(buffer, 1, 1, "abc😀".AsSpan(), maxMessageBytes: 7);
        Assert.Equal(Hex("03 00 00 00 00 01 00 00 00 01 61 62 63 F0 9F 98 80"), buffer[..n]);

        n = V3Frame.WriteRst(buffer, 1, 1, "éé".AsSpan(), maxMessageBytes: 3);
        Assert.Equal(Hex("03 00 00 00 00 01 00 00 00 01 C3 A9"), buffer[..n]);

        Assert.Equal(10, V3Frame.WriteRst(buffer, 1, 1, "abc".AsSpan(), maxMessageBytes: 0));
    }

    [Fact]
    public void WriteRst_Span_CutsToTheDestination()
    {
        var buffer = new byte[12];

        var n = V3Frame.WriteRst(buffer, 1, 1, "abcdef".AsSpan(), maxMessageBytes: 256);

        Assert.Equal(12, n);
        Assert.Equal("ab"u8.ToArray(), buffer[10..12]);
    }

    [Fact]
    public void WriteRst_Span_MatchesTheStringOverloadWithinTheLimit()
    {
        var a = new byte[300];
        var b = new byte[300];
        const string message = "target request failed: Connection refused (127.0.0.1:1)";

        Assert.Equal(V3Frame.WriteRst(a, 9, 1011, message), V3Frame.WriteRst(b, 9, 1011, message.AsSpan(), V3Frame.MaxRstMessageBytes));
        Assert.Equal(a, b);
    }

    [Theory]
    [InlineData("")]
    [InlineData("00")]
    [InlineData("00 00 03")]
    public void ReadRstCode_ShortPayload_IsMinusOne(string hex)
    {
        var payload = Hex(hex);

        Assert.Equal(-1, V3Frame.ReadRstCode(payload));
        Assert.True(V3Frame.ReadRstMessage(payload).IsEmpty);
        Assert.Equal((-1, ""), V3Frame.ReadRst(payload));
    }

    [Fact]
    public void ReadRstCode_AndMessage_FromAWholePayload()
    {
        var payload = Hex("00 00 03 F3 62 79 C3 A9"); // 1011, "byé"

        Assert.Equal(1011, V3Frame.ReadRstCode(payload));
        Assert.Equal("byé"u8.ToArray(), V3Frame.ReadRstMessage(payload).ToArray());
        Assert.Equal((1011, "byé"), V3Frame.ReadRst(payload));
    }

    [Fact]
    public void ReadRstCode_CodeOnly_HasAnEmptyMessage()
    {
        var payload = Hex("FF FF FF FE");

        Assert.Equal(-2, V3Frame.ReadRstCode(payload));
        Assert.True(V3Frame.ReadRstMessage(payload).IsEmpty);
    }

    // ---- prefix, DATA and WINDOW_UPDATE (already span-based: pinned here with the spec's bytes) ----

    [Fact]
    public void DataPrefix_AndWindowUpdate_WorkedExampleFromSpec()
    {
        var buffer = new byte[16];

        V3Frame.WritePrefix(buffer, V3Type.Data, V3Flags.EndStream, 1);
        Assert.Equal(Hex("00 01 00 00 00 01"), buffer[..6]);
        Assert.True(V3Frame.TryReadPrefix(buffer.AsSpan(0, 6), out var type, out var flags, out var id));
        Assert.Equal((V3Type.Data, V3Flags.EndStream, 1), (type, flags, id));

        Assert.Equal(10, V3Frame.WriteWindowUpdate(buffer, 1, 46));
        Assert.Equal(Hex("08 00 00 00 00 01 00 00 00 2E"), buffer[..10]);
        Assert.Equal(46, V3Frame.ReadWindowUpdate(buffer.AsSpan(6, 4)));
        Assert.Equal(0, V3Frame.ReadWindowUpdate(buffer.AsSpan(6, 3)));
        Assert.False(V3Frame.TryReadPrefix(buffer.AsSpan(0, 5), out _, out _, out _));
    }
}
