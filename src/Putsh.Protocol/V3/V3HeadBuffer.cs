using System.Buffers;
using System.Text;

namespace Putsh.Protocol.V3;

/// <summary>
/// Joins the HEADER pieces of one head (§5.3) by decoding each payload straight into a pooled character buffer, so
/// that receiving a head allocates nothing; read it in place with <see cref="Headers.HeadParser"/>'s span readers.
/// Each piece is decoded on its own, as the pieces are cut never to split a character.
/// </summary>
internal sealed class V3HeadBuffer : IDisposable
{
    private char[] _chars;
    private int _length;

    public V3HeadBuffer(int initialCapacity = 1024) => _chars = ArrayPool<char>.Shared.Rent(Math.Max(16, initialCapacity));

    /// <summary>The head so far; valid until the next <see cref="TryAppend"/>, <see cref="Clear"/> or <see cref="Dispose"/>.</summary>
    public ReadOnlySpan<char> Text => _chars.AsSpan(0, _length);

    /// <summary>Length of the head so far, in characters.</summary>
    public int Length => _length;

    /// <summary>
    /// Decodes and appends one HEADER payload. False, with nothing appended, when the head would then be longer than
    /// <paramref name="maxChars"/> characters.
    /// </summary>
    public bool TryAppend(ReadOnlySpan<byte> payload, int maxChars = int.MaxValue)
    {
        // UTF-8 never decodes to more UTF-16 code units than it has bytes.
        var room = _chars.Length - _length;
        if (payload.Length > room)
        {
            var needed = _length + Math.Min(payload.Length, Encoding.UTF8.GetCharCount(payload));
            if (needed > maxChars)
            {
                return false;
            }

            if (needed > _chars.Length)
            {
                var bigger = ArrayPool<char>.Shared.Rent(Math.Max(needed, 2 * _chars.Length));
                Text.CopyTo(bigger);
                ArrayPool<char>.Shared.Return(_chars);
                _chars = bigger;
            }
        }

        var n = Encoding.UTF8.GetChars(payload, _chars.AsSpan(_length));
        if (_length + n > maxChars)
        {
            return false;
        }

        _length += n;
        return true;
    }

    /// <summary>Empties the buffer for the next head, keeping its storage.</summary>
    public void Clear() => _length = 0;

    public void Dispose()
    {
        var chars = _chars;
        _chars = [];
        _length = 0;
        if (chars.Length > 0)
        {
            ArrayPool<char>.Shared.Return(chars);
        }
    }
}
