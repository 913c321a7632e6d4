using System.Buffers.Binary;
using System.Net.WebSockets;
using System.Text;

namespace Putsh.Connector.Tests.V3;

/// <summary>
/// cranker_3.0 messages built and read by hand from docs/protocol.md (§5.1–§5.6), independent of the production
/// encoder, so an encoding bug on either side cannot hide behind shared code.
/// </summary>
internal static class V3Wire
{
    public const byte Data = 0x00;
    public const byte Header = 0x01;
    public const byte RstStream = 0x03;
    public const byte WindowUpdate = 0x08;

    public const byte EndStream = 0x01;
    public const byte EndHeader = 0x04;

    /// <summary>The flow-control watermarks of §5.6.</summary>
    public const int High = 65536;

    public const int Low = 16384;

    /// <summary>Largest DATA payload a 64 KiB frame can carry (§5.1).</summary>
    public const int MaxDataPayload = 65516; // a 65536-byte WebSocket frame with the longest header

    /// <summary>Head pieces are at most this many characters (§5.3).</summary>
    public const int PieceChars = 16000;

    /// <summary>Strict UTF-8: invalid bytes throw instead of turning into U+FFFD.</summary>
    public static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    public static byte[] Message(byte type, byte flags, int id, ReadOnlySpan<byte> payload)
    {
        var message = new byte[6 + payload.Length];
        message[0] = type;
        message[1] = flags;
        BinaryPrimitives.WriteInt32BigEndian(message.AsSpan(2), id);
        payload.CopyTo(message.AsSpan(6));
        return message;
    }

    public static byte[] HeaderMessage(int id, byte flags, string text) => Message(Header, flags, id, Encoding.UTF8.GetBytes(text));

    public static byte[] DataMessage(int id, byte flags, ReadOnlySpan<byte> payload) => Message(Data, flags, id, payload);

    public static byte[] WindowUpdateMessage(int id, int consumed)
    {
        Span<byte> payload = stackalloc byte[4];
        BinaryPrimitives.WriteInt32BigEndian(payload, consumed);
        return Message(WindowUpdate, 0, id, payload);
    }

    public static byte[] RstMessage(int id, int code, string message)
    {
        var text = Encoding.UTF8.GetBytes(message);
        var payload = new byte[4 + text.Length];
        BinaryPrimitives.WriteInt32BigEndian(payload, code);
        text.CopyTo(payload, 4);
        return Message(RstStream, 0, id, payload);
    }

    /// <summary>Parses spaced or multi-line hex as printed in §5.9.</summary>
    public static byte[] Hex(string hex) =>
        Convert.FromHexString(string.Concat(hex.Where(c => !char.IsWhiteSpace(c))));

    public static string ToHex(byte[] bytes) => Convert.ToHexString(bytes);

    /// <summary>Cuts ASCII text into pieces of 16000 characters, as a router does (§5.3).</summary>
    public static List<string> Pieces(string head)
    {
        var pieces = new List<string>();
        for (var start = 0; start < head.Length; start += PieceChars)
        {
            pieces.Add(head.Substring(start, Math.Min(PieceChars, head.Length - start)));
        }

        return pieces;
    }

    /// <summary>
    /// Checks a response head against §2.2: <c>HTTP/1.1 status reason</c>, lowercase <c>name:value</c> lines, LF only,
    /// no CR anywhere, no blank line at the end. Returns the header lines.
    /// </summary>
    public static List<string> AssertResponseHead(string head, int status)
    {
        Assert.DoesNotContain('\r', head);
        Assert.StartsWith($"HTTP/1.1 {status} ", head, StringComparison.Ordinal);
        Assert.EndsWith("\n", head, StringComparison.Ordinal);
        Assert.False(head.EndsWith("\n\n", StringComparison.Ordinal), "a response head has no blank line at the end");
        var headers = head[..^1].Split('\n').Skip(1).ToList();
        foreach (var line in headers)
        {
            var colon = line.IndexOf(':', StringComparison.Ordinal);
            Assert.True(colon > 0, $"header line without a name: '{line}'");
            var name = line[..colon];
            Assert.Equal(name.ToLowerInvariant(), name);
            Assert.DoesNotContain(' ', name);
            Assert.False(line.Length > colon + 1 && line[colon + 1] == ' ', $"space after the colon: '{line}'");
        }

        return headers;
    }
}

/// <summary>One whole WebSocket message from the connector, read as cranker_3.0 when it is binary.</summary>
internal sealed record V3Message(long Sequence, WebSocketMessageType Kind, byte[] Raw, WebSocketCloseStatus? CloseStatus, string? CloseDescription)
{
    public bool IsClose => Kind == WebSocketMessageType.Close;

    public bool IsFrame => Kind == WebSocketMessageType.Binary && Raw.Length >= 6;

    public byte Type => Raw[0];

    public byte Flags => Raw[1];

    public int Id => BinaryPrimitives.ReadInt32BigEndian(Raw.AsSpan(2, 4));

    public byte[] Payload => Raw[6..];

    public bool EndsStream => IsFrame && (Type == V3Wire.RstStream || ((Type is V3Wire.Data or V3Wire.Header) && (Flags & V3Wire.EndStream) != 0));

    /// <summary>The count carried by a WINDOW_UPDATE; its payload must be exactly 4 bytes.</summary>
    public int Consumed
    {
        get
        {
            Assert.Equal(V3Wire.WindowUpdate, Type);
            Assert.Equal(10, Raw.Length);
            return BinaryPrimitives.ReadInt32BigEndian(Raw.AsSpan(6));
        }
    }

    public int RstCode => BinaryPrimitives.ReadInt32BigEndian(Raw.AsSpan(6, 4));

    public string RstText => V3Wire.StrictUtf8.GetString(Raw.AsSpan(10));

    public override string ToString() => IsClose
        ? $"#{Sequence} close {(int?)CloseStatus} '{CloseDescription}'"
        : IsFrame
            ? $"#{Sequence} type={Type:X2} flags={Flags:X2} id={Id} payload={Raw.Length - 6}"
            : $"#{Sequence} {Kind} length={Raw.Length}";
}

/// <summary>Everything the connector sent for one request id, in order.</summary>
internal sealed class V3Exchange(int id)
{
    private readonly List<V3Message> _messages = [];

    public int Id { get; } = id;

    public IReadOnlyList<V3Message> Messages => _messages;

    public IReadOnlyList<V3Message> HeadPieces => [.. _messages.Where(m => m.Type == V3Wire.Header)];

    public string Head => string.Concat(HeadPieces.Select(m => V3Wire.StrictUtf8.GetString(m.Payload)));

    public IReadOnlyList<V3Message> DataMessages => [.. _messages.Where(m => m.Type == V3Wire.Data)];

    public byte[] Body => [.. DataMessages.SelectMany(m => m.Payload)];

    /// <summary>WINDOW_UPDATE values the connector sent for this id.</summary>
    public IReadOnlyList<int> Acks => [.. _messages.Where(m => m.Type == V3Wire.WindowUpdate).Select(m => m.Consumed)];

    public V3Message? Reset => _messages.FirstOrDefault(m => m.Type == V3Wire.RstStream);

    public bool Ended => _messages.Any(m => m.EndsStream);

    public void Add(V3Message message) => _messages.Add(message);

    /// <summary>
    /// A completed response: HEADER pieces, DATA, and END_STREAM on the final DATA, nothing after it. The final DATA
    /// is empty (jconn's way, and ours when the body's length is unknown) or carries the body's last bytes (ours when
    /// the target gave a content-length), which every router accepts (§5.4).
    /// </summary>
    public void AssertCompletedNormally()
    {
        var frames = _messages.Where(m => m.Type != V3Wire.WindowUpdate).ToList();
        Assert.True(frames.Count >= 2, $"stream {Id}: {string.Join(", ", _messages)}");
        Assert.Null(Reset);
        Assert.Equal(V3Wire.Header, frames[0].Type);
        var last = frames[^1];
        Assert.Equal(V3Wire.Hex($"00 01 {Id:X8}"), last.Raw[..6]);
        Assert.InRange(last.Payload.Length, 0, V3Wire.MaxDataPayload);
        Assert.Single(frames, f => f.EndsStream);
        var headEnd = frames.FindIndex(f => f.Type == V3Wire.Header && (f.Flags & V3Wire.EndHeader) != 0);
        Assert.True(headEnd >= 0, $"stream {Id}: no END_HEADER piece");
        Assert.All(frames.Take(headEnd), f =>
        {
            Assert.Equal(V3Wire.Header, f.Type);
            Assert.Equal(0, f.Flags);
        });
        Assert.Equal(V3Wire.EndHeader, frames[headEnd].Flags);
        Assert.All(frames.Skip(headEnd + 1).SkipLast(1), f =>
        {
            Assert.Equal(V3Wire.Data, f.Type);
            Assert.Equal(0, f.Flags);
            Assert.InRange(f.Payload.Length, 1, V3Wire.MaxDataPayload);
        });
    }
}
