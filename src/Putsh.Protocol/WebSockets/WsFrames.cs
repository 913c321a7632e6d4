using System.Buffers;
using System.Buffers.Binary;
using System.Numerics;
using System.Runtime.InteropServices;
using System.Security.Cryptography;

namespace Putsh.Protocol.WebSockets;

/// <summary>RFC 6455 §5.2 opcodes.</summary>
internal enum WsOpcode : byte
{
    Continuation = 0x0,
    Text = 0x1,
    Binary = 0x2,
    Close = 0x8,
    Ping = 0x9,
    Pong = 0xA,
}

/// <summary>One frame's header as read from the wire (RFC 6455 §5.2).</summary>
/// <param name="Fin">The frame ends its message.</param>
/// <param name="Opcode">What the frame carries.</param>
/// <param name="Masked">A mask key follows the length.</param>
/// <param name="MaskKey">The key, as the four bytes read in order (little-endian int of them); 0 when not masked.</param>
/// <param name="PayloadLength">Payload bytes after the header.</param>
/// <param name="HeaderLength">Header bytes: 2 to 14.</param>
internal readonly record struct WsFrameHeader(bool Fin, WsOpcode Opcode, bool Masked, int MaskKey, long PayloadLength, int HeaderLength)
{
    public bool IsControl => ((byte)Opcode & 0x8) != 0;
}

/// <summary>What <see cref="WsFrameReader.TryReadHeader"/> found.</summary>
internal enum WsReadStatus
{
    /// <summary>More bytes are needed before the header is whole.</summary>
    Incomplete,

    /// <summary>A valid header.</summary>
    Header,

    /// <summary>A header this endpoint must refuse; close with the code given (1002 protocol error, 1009 too big).</summary>
    Invalid,
}

/// <summary>
/// Reads WebSocket frame headers in place from a <see cref="SequenceReader{T}"/>, checking what RFC 6455 §5 requires
/// of them: no reserved bits without an extension, no unknown opcode, control frames whole and at most 125 bytes,
/// masking as the side demands (RFC 6455 §5.1: a server refuses unmasked frames, a client masked ones), a 64-bit
/// length with its top bit clear, and a payload within the endpoint's limit.
/// </summary>
internal static class WsFrameReader
{
    public static WsReadStatus TryReadHeader(ref SequenceReader<byte> reader, bool expectMasked, long maxPayload, out WsFrameHeader header, out int closeCode, out string? reason)
    {
        header = default;
        closeCode = 0;
        reason = null;
        var start = reader.Consumed;
        if (!reader.TryRead(out var b0) || !reader.TryRead(out var b1))
        {
            reader.Rewind(reader.Consumed - start);
            return WsReadStatus.Incomplete;
        }

        var fin = (b0 & 0x80) != 0;
        var opcode = (WsOpcode)(b0 & 0x0F);
        var masked = (b1 & 0x80) != 0;
        long length = b1 & 0x7F;
        if (length == 126)
        {
            if (!reader.TryReadBigEndian(out short l16))
            {
                reader.Rewind(reader.Consumed - start);
                return WsReadStatus.Incomplete;
            }

            length = (ushort)l16;
        }
        else if (length == 127)
        {
            if (!reader.TryReadBigEndian(out long l64))
            {
                reader.Rewind(reader.Consumed - start);
                return WsReadStatus.Incomplete;
            }

            length = l64;
        }

        var key = 0;
        if (masked)
        {
            Span<byte> k = stackalloc byte[4];
            if (!reader.TryCopyTo(k))
            {
                reader.Rewind(reader.Consumed - start);
                return WsReadStatus.Incomplete;
            }

            reader.Advance(4);
            key = BinaryPrimitives.ReadInt32LittleEndian(k);
        }

        header = new WsFrameHeader(fin, opcode, masked, key, length, (int)(reader.Consumed - start));
        reason = (b0 & 0x70) != 0 ? "reserved bits set without an extension"
            : opcode is not (WsOpcode.Continuation or WsOpcode.Text or WsOpcode.Binary or WsOpcode.Close or WsOpcode.Ping or WsOpcode.Pong) ? "unknown opcode " + (int)opcode
            : header.IsControl && !fin ? "a fragmented control frame"
            : header.IsControl && length > 125 ? "a control frame longer than 125 bytes"
            : masked != expectMasked ? (expectMasked ? "an unmasked frame from a client" : "a masked frame from a server")
            : length < 0 ? "a 64-bit length with its top bit set"
            : null;
        if (reason is not null)
        {
            closeCode = 1002;
            return WsReadStatus.Invalid;
        }

        if (length > maxPayload)
        {
            closeCode = 1009;
            reason = $"a frame of {length} bytes, more than the {maxPayload} accepted";
            return WsReadStatus.Invalid;
        }

        return WsReadStatus.Header;
    }
}

/// <summary>RFC 6455 §5.3 masking: each payload byte XORed with the key byte at its position modulo 4.</summary>
internal static class WsMask
{
    /// <summary>
    /// Masks (or unmasks: the same operation) <paramref name="data"/> in place, as the part of a payload that starts
    /// <paramref name="offset"/> bytes in, so that a payload split across buffers can be done piece by piece.
    /// </summary>
    public static void Apply(Span<byte> data, int maskKey, long offset) => Copy(data, data, maskKey, offset);

    /// <summary>Copies <paramref name="source"/> to <paramref name="destination"/> masked: the copy and the mask in one pass.</summary>
    public static void Copy(ReadOnlySpan<byte> source, Span<byte> destination, int maskKey, long offset)
    {
        if (source.Length == 0)
        {
            return;
        }

        // The key rotated so that its first byte applies to the first byte here.
        var shift = (int)(offset & 3) * 8;
        var key = (uint)maskKey;
        var rotated = shift == 0 ? key : BitOperations.RotateRight(key, shift);
        var i = 0;
        if (Vector.IsHardwareAccelerated && source.Length >= Vector<byte>.Count)
        {
            var keyVector = Vector.AsVectorByte(new Vector<uint>(rotated));
            for (; i <= source.Length - Vector<byte>.Count; i += Vector<byte>.Count)
            {
                var v = new Vector<byte>(source[i..]);
                (v ^ keyVector).CopyTo(destination[i..]);
            }
        }

        var wide = ((ulong)rotated << 32) | rotated;
        for (; i <= source.Length - 8; i += 8)
        {
            MemoryMarshal.Write(destination[i..], MemoryMarshal.Read<ulong>(source[i..]) ^ wide);
        }

        for (; i < source.Length; i++)
        {
            destination[i] = (byte)(source[i] ^ (byte)(rotated >> ((i & 3) * 8)));
        }
    }
}

/// <summary>
/// Mask keys for client frames (RFC 6455 §5.3: unpredictable, from a strong source), drawn from a per-thread buffer
/// that one CSPRNG call fills with 1,024 keys, rather than a call per frame.
/// </summary>
internal static class WsMaskKeys
{
    private const int Keys = 1024;

    [ThreadStatic]
    private static int[]? t_keys;

    [ThreadStatic]
    private static int t_next;

    public static int Next()
    {
        var keys = t_keys;
        if (keys is null || t_next == Keys)
        {
            keys = t_keys ??= new int[Keys];
            RandomNumberGenerator.Fill(MemoryMarshal.AsBytes(keys.AsSpan()));
            t_next = 0;
        }

        return keys[t_next++];
    }
}

/// <summary>Writes RFC 6455 frames: the shortest header for the length, and, with a key, the payload masked as it is copied.</summary>
internal static class WsFrameWriter
{
    /// <summary>The largest header: 2 bytes, an 8-byte length and a 4-byte key.</summary>
    public const int MaxHeaderLength = 14;

    /// <summary>Writes a header into <paramref name="destination"/> (at least <see cref="MaxHeaderLength"/> bytes); returns its length.</summary>
    public static int WriteHeader(Span<byte> destination, bool fin, WsOpcode opcode, long payloadLength, int? maskKey)
    {
        destination[0] = (byte)((fin ? 0x80 : 0) | (byte)opcode);
        var maskBit = maskKey is null ? 0 : 0x80;
        int n;
        if (payloadLength < 126)
        {
            destination[1] = (byte)(maskBit | (int)payloadLength);
            n = 2;
        }
        else if (payloadLength <= ushort.MaxValue)
        {
            destination[1] = (byte)(maskBit | 126);
            BinaryPrimitives.WriteUInt16BigEndian(destination[2..], (ushort)payloadLength);
            n = 4;
        }
        else
        {
            destination[1] = (byte)(maskBit | 127);
            BinaryPrimitives.WriteInt64BigEndian(destination[2..], payloadLength);
            n = 10;
        }

        if (maskKey is { } key)
        {
            BinaryPrimitives.WriteInt32LittleEndian(destination[n..], key);
            n += 4;
        }

        return n;
    }

    /// <summary>Writes a whole frame into <paramref name="output"/>, masking the payload with <paramref name="maskKey"/> if given.</summary>
    public static void WriteFrame(IBufferWriter<byte> output, bool fin, WsOpcode opcode, ReadOnlySpan<byte> payload, int? maskKey)
    {
        var span = output.GetSpan(MaxHeaderLength + payload.Length);
        var n = WriteHeader(span, fin, opcode, payload.Length, maskKey);
        if (maskKey is { } key)
        {
            WsMask.Copy(payload, span.Slice(n, payload.Length), key, 0);
        }
        else
        {
            payload.CopyTo(span[n..]);
        }

        output.Advance(n + payload.Length);
    }
}
