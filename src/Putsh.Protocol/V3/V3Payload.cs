using System.Buffers;

namespace Putsh.Protocol.V3;

/// <summary>
/// The payload of a DATA message just received by a <see cref="V3MessageReader"/>: read it as a span, or take it
/// into a pooled array with <see cref="ToPooled"/>, which hands over the reader's own buffer rather than copying
/// when the payload is large. Valid only until the reader reads again.
/// </summary>
internal readonly struct V3Payload
{
    /// <summary>Payloads shorter than this are copied: cheaper than giving up a buffer of the reader's size.</summary>
    internal const int TakeThreshold = 1024;

    private readonly V3MessageReader? _reader;
    private readonly ReadOnlyMemory<byte> _bytes;
    private readonly int _offset;
    private readonly int _length;

    /// <summary>A payload that is not in a reader's buffer: <see cref="ToPooled"/> copies it.</summary>
    public V3Payload(ReadOnlyMemory<byte> bytes)
    {
        _bytes = bytes;
        _length = bytes.Length;
    }

    /// <summary>The payload starting at <paramref name="offset"/> of <paramref name="reader"/>'s current message.</summary>
    public V3Payload(V3MessageReader reader, int offset)
    {
        _reader = reader;
        _offset = offset;
        _length = reader.Message.Length - offset;
    }

    public int Length => _length;

    public ReadOnlySpan<byte> Span => _reader is null ? _bytes.Span : _reader.Message.Span.Slice(_offset, _length);

    /// <summary>
    /// The payload in an array from <see cref="ArrayPool{T}.Shared"/>, starting at <paramref name="offset"/>, which the
    /// caller now owns and must return. Call at most once, only for a payload that is not empty, and do not read
    /// <see cref="Span"/> after.
    /// </summary>
    public byte[] ToPooled(out int offset)
    {
        if (_length == 0)
        {
            throw new InvalidOperationException("An empty payload has no buffer.");
        }

        if (_reader is not null && _length >= TakeThreshold)
        {
            offset = _offset;
            return _reader.TakeBuffer();
        }

        var copy = ArrayPool<byte>.Shared.Rent(_length);
        Span.CopyTo(copy);
        offset = 0;
        return copy;
    }
}
