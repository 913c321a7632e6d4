using System.Buffers.Binary;
using System.Text;

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

    /// <summary>Largest payload a peer is guaranteed to accept (65536-byte frames, §5.1).</summary>
    public const int MaxPayload = 65536 - PrefixLength;

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

    /// <summary>
    /// Cuts a head into pieces of at most 16000 characters (§5.3), never between the two halves of a surrogate pair,
    /// so that each piece is valid UTF-8 on its own.
    /// </summary>
    public static List<string> SplitHead(string head)
    {
        var pieces = new List<string>(head.Length / HeadPieceChars + 1);
        var start = 0;
        while (head.Length - start > HeadPieceChars)
        {
            var length = HeadPieceChars;
            if (char.IsHighSurrogate(head[start + length - 1]))
            {
                length--;
            }

            pieces.Add(head.Substring(start, length));
            start += length;
        }

        pieces.Add(head[start..]);
        return pieces;
    }

    /// <summary>Flags for piece <paramref name="index"/> of <paramref name="count"/>.</summary>
    /// <param name="index">Position of the piece.</param>
    /// <param name="count">Number of pieces.</param>
    /// <param name="endStream">The sender has nothing after the head (no body).</param>
    /// <param name="endStreamOnEveryPiece">
    /// mu's router style: END_STREAM on every piece of a bodiless request. A connector must never do this: mu ends
    /// the response at the first piece that carries END_STREAM (§5.3).
    /// </param>
    public static byte HeadPieceFlags(int index, int count, bool endStream, bool endStreamOnEveryPiece)
    {
        var last = index == count - 1;
        var flags = last ? V3Flags.EndHeader : V3Flags.None;
        if (endStream && (last || endStreamOnEveryPiece))
        {
            flags |= V3Flags.EndStream;
        }

        return flags;
    }
}
