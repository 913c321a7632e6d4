using System.Text.Unicode;

namespace Putsh.Protocol.WebSockets;

/// <summary>
/// Checks that a text message is UTF-8 (RFC 6455 §8.1) as its bytes arrive in pieces: a character split between
/// pieces (or fragments) is held, at most three bytes, until the rest of it comes.
/// </summary>
internal struct WsUtf8
{
    private int _pending;
    private int _pendingCount;

    /// <summary>Takes the next bytes of a message; false when they cannot be UTF-8 (or the message ends mid-character).</summary>
    public bool Take(ReadOnlySpan<byte> data, bool final)
    {
        if (_pendingCount > 0)
        {
            Span<byte> sequence = stackalloc byte[4];
            for (var i = 0; i < _pendingCount; i++)
            {
                sequence[i] = (byte)(_pending >> (8 * i));
            }

            var needed = SequenceLength(sequence[0]);
            var take = Math.Min(needed - _pendingCount, data.Length);
            data[..take].CopyTo(sequence[_pendingCount..]);
            var have = _pendingCount + take;
            data = data[take..];
            if (have < needed)
            {
                Hold(sequence[..have]);
                return !final;
            }

            _pendingCount = 0;
            if (!Utf8.IsValid(sequence[..needed]))
            {
                return false;
            }
        }

        // Find where the last, possibly incomplete, character starts: at most three bytes from the end.
        var start = data.Length;
        for (var back = 1; back <= Math.Min(3, data.Length); back++)
        {
            var b = data[^back];
            if ((b & 0xC0) != 0x80)
            {
                if (SequenceLength(b) > back)
                {
                    start = data.Length - back;
                }

                break;
            }
        }

        if (!Utf8.IsValid(data[..start]))
        {
            return false;
        }

        if (start < data.Length)
        {
            Hold(data[start..]);
            return !final;
        }

        return true;
    }

    public void Reset() => _pendingCount = 0;

    private void Hold(ReadOnlySpan<byte> bytes)
    {
        _pending = 0;
        for (var i = 0; i < bytes.Length; i++)
        {
            _pending |= bytes[i] << (8 * i);
        }

        _pendingCount = bytes.Length;
    }

    /// <summary>The length a lead byte announces; 1 for bytes that cannot lead (they fail validation on their own).</summary>
    private static int SequenceLength(byte lead) => lead switch
    {
        >= 0xC2 and <= 0xDF => 2,
        >= 0xE0 and <= 0xEF => 3,
        >= 0xF0 and <= 0xF4 => 4,
        _ => 1,
    };
}
