using System.Buffers.Binary;
using System.Text;
using System.Text.Unicode;

namespace Putsh.Protocol.V3;

/// <summary>Message types of cranker_3.0 (§5.1). Others are reserved and ignored.</summary>
internal static class V3Type
{
    public const byte Data = 0x00;
    public const byte Header = 0x01;
    public const byte RstStream = 0x03;
    public const byte WindowUpdate = 0x08;
}

/// <summary>Flags of cranker_3.0 (§5.1).</summary>
internal static class V3Flags
{
    public const byte None = 0x00;
    public const byte EndStream = 0x01;
    public const byte EndHeader = 0x04;
}

/// <summary>
/// The cranker_3.0 framing (§5.1–§5.5): a 6-byte prefix (type, flags, big-endian int32 request id) and a payload.
/// Every message is one whole binary WebSocket message.
/// </summary>
internal static class V3Frame
{
    public const int PrefixLength = 6;

    /// <summary>
    /// Largest payload putsh sends in one message. Peers accept messages of up to 65536 bytes (§5.1); putsh keeps the
    /// whole WebSocket frame, its header of up to 14 bytes included, within 65536, because System.Net.WebSockets
    /// copies each frame into a pooled buffer of header + message size: a 65536-byte message took a 128 KiB array
    /// from the large-object heap, which the shared pool kept too few of (the connector's GC heap doubled under load).
    /// </summary>
    public const int MaxPayload = 65536 - WebSocketHeaderMax - PrefixLength;

    /// <summary>The longest WebSocket frame header: 2 bytes, an 8-byte length, a 4-byte mask key (RFC 6455 §5.2).</summary>
    public const int WebSocketHeaderMax = 14;

    /// <summary>Heads are cut into pieces of this many characters (§5.3).</summary>
    public const int HeadPieceChars = 16000;

    /// <summary>Sender watermarks of unacknowledged bytes per stream (§5.6).</summary>
    public const int HighWatermark = 64 * 1024;

    public const int LowWatermark = 16 * 1024;

    public static void WritePrefix(Span<byte> destination, byte type, byte flags, int requestId)
    {
        destination[0] = type;
        destination[1] = flags;
        BinaryPrimitives.WriteInt32BigEndian(destination[2..], requestId);
    }

    /// <summary>Reads the prefix; false when the message is shorter than 6 bytes.</summary>
    public static bool TryReadPrefix(ReadOnlySpan<byte> message, out byte type, out byte flags, out int requestId)
    {
        if (message.Length < PrefixLength)
        {
            type = flags = 0;
            requestId = 0;
            return false;
        }

        type = message[0];
        flags = message[1];
        requestId = BinaryPrimitives.ReadInt32BigEndian(message[2..]);
        return true;
    }

    /// <summary>WINDOW_UPDATE: prefix and the count of payload bytes consumed (§5.6). Always 10 bytes.</summary>
    public static int WriteWindowUpdate(Span<byte> destination, int requestId, int consumed)
    {
        WritePrefix(destination, V3Type.WindowUpdate, V3Flags.None, requestId);
        BinaryPrimitives.WriteInt32BigEndian(destination[PrefixLength..], consumed);
        return PrefixLength + 4;
    }

    /// <summary>RST_STREAM: prefix, int32 error code, UTF-8 message (§5.5). Returns the length written.</summary>
    public static int WriteRst(Span<byte> destination, int requestId, int errorCode, string? message)
    {
        WritePrefix(destination, V3Type.RstStream, V3Flags.None, requestId);
        BinaryPrimitives.WriteInt32BigEndian(destination[PrefixLength..], errorCode);
        var n = string.IsNullOrEmpty(message) ? 0 : Encoding.UTF8.GetBytes(message, destination[(PrefixLength + 4)..]);
        return PrefixLength + 4 + n;
    }

    /// <summary>
    /// RST_STREAM with <paramref name="message"/> cut, at a character boundary, to at most
    /// <paramref name="maxMessageBytes"/> UTF-8 bytes (and to what fits <paramref name="destination"/>). Never allocates.
    /// Returns the length written.
    /// </summary>
    public static int WriteRst(Span<byte> destination, int requestId, int errorCode, ReadOnlySpan<char> message, int maxMessageBytes)
    {
        WritePrefix(destination, V3Type.RstStream, V3Flags.None, requestId);
        BinaryPrimitives.WriteInt32BigEndian(destination[PrefixLength..], errorCode);
        var room = destination[(PrefixLength + 4)..];
        if (room.Length > maxMessageBytes)
        {
            room = room[..Math.Max(0, maxMessageBytes)];
        }

        // On DestinationTooSmall, FromUtf16 has written only whole characters: the cut never splits one.
        Utf8.FromUtf16(message, room, out _, out var written, replaceInvalidSequences: true, isFinalBlock: true);
        return PrefixLength + 4 + written;
    }

    /// <summary>Largest RST message we send, in bytes, so an RST always fits a small buffer.</summary>
    public const int MaxRstMessageBytes = 256;

    /// <summary>Reads a WINDOW_UPDATE payload; a short payload counts as 0.</summary>
    public static int ReadWindowUpdate(ReadOnlySpan<byte> payload) =>
        payload.Length >= 4 ? BinaryPrimitives.ReadInt32BigEndian(payload) : 0;

    /// <summary>Reads an RST_STREAM payload: fewer than 4 bytes means code -1 (§5.5).</summary>
    public static (int Code, string Message) ReadRst(ReadOnlySpan<byte> payload) =>
        payload.Length < 4
            ? (-1, "")
            : (BinaryPrimitives.ReadInt32BigEndian(payload), Encoding.UTF8.GetString(payload[4..]));

    /// <summary>The error code of an RST_STREAM payload, without decoding its message: -1 when shorter than 4 bytes (§5.5).</summary>
    public static int ReadRstCode(ReadOnlySpan<byte> payload) =>
        payload.Length < 4 ? -1 : BinaryPrimitives.ReadInt32BigEndian(payload);

    /// <summary>The UTF-8 message of an RST_STREAM payload, as a slice of it (empty when shorter than 4 bytes). Never allocates.</summary>
    public static ReadOnlySpan<byte> ReadRstMessage(ReadOnlySpan<byte> payload) =>
        payload.Length < 4 ? [] : payload[4..];

    /// <summary>
    /// Bytes of a HEADER message that can hold any head piece: the prefix plus 3 UTF-8 bytes per UTF-16 code unit
    /// (a surrogate pair takes 4 bytes for 2 units; a lone surrogate becomes the 3-byte U+FFFD).
    /// </summary>
    public const int MaxHeadPieceMessage = PrefixLength + 3 * HeadPieceChars;

    /// <summary>
    /// Length in characters of the head piece at the start of <paramref name="remaining"/>: all of it when at most
    /// 16000 characters are left, else 16000, or 15999 when the 16000th is the first half of a surrogate pair.
    /// Never between the two halves of a surrogate pair, so that each piece is valid UTF-8 on its own.
    /// </summary>
    public static int NextHeadPieceLength(ReadOnlySpan<char> remaining)
    {
        if (remaining.Length <= HeadPieceChars)
        {
            return remaining.Length;
        }

        return char.IsHighSurrogate(remaining[HeadPieceChars - 1]) ? HeadPieceChars - 1 : HeadPieceChars;
    }

    /// <summary>Number of pieces <see cref="NextHeadPieceLength"/> cuts a head into (at least 1: an empty head is one empty piece).</summary>
    public static int CountHeadPieces(ReadOnlySpan<char> head)
    {
        var count = 1;
        while (head.Length > HeadPieceChars)
        {
            head = head[NextHeadPieceLength(head)..];
            count++;
        }

        return count;
    }

    /// <summary>
    /// The pieces of a head, as <see cref="NextHeadPieceLength"/> cuts them, as slices of <paramref name="head"/>:
    /// <c>foreach (var piece in V3Frame.EnumerateHeadPieces(head))</c>. Never allocates.
    /// </summary>
    public static HeadPieceEnumerator EnumerateHeadPieces(ReadOnlySpan<char> head) => new(head);

    /// <summary>
    /// Writes one HEADER message: the prefix and the UTF-8 of <paramref name="piece"/>. <paramref name="destination"/>
    /// needs <c>6 + 3 × piece.Length</c> bytes (<see cref="MaxHeadPieceMessage"/> for any piece). Returns the message
    /// length; the payload length, which the flow window counts, is that minus <see cref="PrefixLength"/>.
    /// </summary>
    public static int WriteHeader(Span<byte> destination, int requestId, byte flags, ReadOnlySpan<char> piece)
    {
        WritePrefix(destination, V3Type.Header, flags, requestId);
        return PrefixLength + Encoding.UTF8.GetBytes(piece, destination[PrefixLength..]);
    }

    /// <summary>
    /// Decodes a HEADER payload into <paramref name="destination"/>, which needs at most
    /// <c>payload.Length</c> characters. Returns the number of characters written. Never allocates.
    /// </summary>
    public static int ReadHeader(ReadOnlySpan<byte> payload, Span<char> destination) =>
        Encoding.UTF8.GetChars(payload, destination);

    /// <summary>Flags for piece <paramref name="index"/> of <paramref name="count"/>.</summary>
    /// <param name="index">Position of the piece.</param>
    /// <param name="count">Number of pieces.</param>
    /// <param name="endStream">The sender has nothing after the head (no body).</param>
    /// <param name="endStreamOnEveryPiece">
    /// mu's router style: END_STREAM on every piece of a bodiless request. A connector must never do this: mu ends
    /// the response at the first piece that carries END_STREAM (§5.3).
    /// </param>
    public static byte HeadPieceFlags(int index, int count, bool endStream, bool endStreamOnEveryPiece) =>
        HeadPieceFlags(index == count - 1, endStream, endStreamOnEveryPiece);

    /// <summary>Flags for a head piece, given whether it is the last one (see the other overload).</summary>
    public static byte HeadPieceFlags(bool last, bool endStream, bool endStreamOnEveryPiece)
    {
        var flags = last ? V3Flags.EndHeader : V3Flags.None;
        if (endStream && (last || endStreamOnEveryPiece))
        {
            flags |= V3Flags.EndStream;
        }

        return flags;
    }
}

/// <summary>One piece of a head being cut for HEADER messages (§5.3).</summary>
internal readonly ref struct HeadPiece(ReadOnlySpan<char> text, int index, bool isLast)
{
    /// <summary>The characters of this piece: a slice of the head.</summary>
    public ReadOnlySpan<char> Text { get; } = text;

    /// <summary>Position of the piece, from 0.</summary>
    public int Index { get; } = index;

    /// <summary>True for the piece that carries END_HEADER.</summary>
    public bool IsLast { get; } = isLast;
}

/// <summary>Walks the pieces of a head without allocating; see <see cref="V3Frame.EnumerateHeadPieces"/>.</summary>
internal ref struct HeadPieceEnumerator
{
    private readonly ReadOnlySpan<char> _head;
    private int _next;
    private int _index;
    private bool _done;

    public HeadPieceEnumerator(ReadOnlySpan<char> head)
    {
        _head = head;
        _index = -1;
    }

    public HeadPiece Current { get; private set; }

    public readonly HeadPieceEnumerator GetEnumerator() => this;

    public bool MoveNext()
    {
        if (_done)
        {
            return false;
        }

        var remaining = _head[_next..];
        var length = V3Frame.NextHeadPieceLength(remaining);
        _next += length;
        _index++;
        _done = _next == _head.Length; // an empty head is one empty piece
        Current = new HeadPiece(remaining[..length], _index, _done);
        return true;
    }
}
