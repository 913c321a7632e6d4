using System.Buffers;
using System.Text;

namespace Putsh.Protocol.Channels;

/// <summary>
/// What <see cref="IChannel.Send"/> takes: a response (status, headers, body) or just a body (bytes or text).
/// Status and headers count only on the first send of an HTTP response, and never on a WebSocket.
/// </summary>
public sealed class ChannelData
{
    private ChannelData(int? status, IReadOnlyList<KeyValuePair<string, string>>? headers, ReadOnlyMemory<byte> body, bool isText)
    {
        Status = status;
        Headers = headers;
        Body = body;
        IsText = isText;
    }

    /// <summary>The status, when this is a response; a body-only first send means 200.</summary>
    public int? Status { get; }

    /// <summary>Response headers, one entry per value.</summary>
    public IReadOnlyList<KeyValuePair<string, string>>? Headers { get; }

    /// <summary>The bytes to send (UTF-8 for text).</summary>
    public ReadOnlyMemory<byte> Body { get; }

    /// <summary>True when the body is text (a WebSocket text message).</summary>
    public bool IsText { get; }

    /// <summary>A response with status, headers and (optionally) a first piece of body.</summary>
    public static ChannelData Response(int status, IEnumerable<KeyValuePair<string, string>>? headers = null, ReadOnlyMemory<byte> body = default)
    {
        if (status is < 100 or > 999)
        {
            throw new ArgumentOutOfRangeException(nameof(status), status, "An HTTP status has three digits.");
        }

        return new ChannelData(status, headers?.ToList(), body, false);
    }

    /// <summary>A response whose body is text (UTF-8).</summary>
    public static ChannelData Response(int status, IEnumerable<KeyValuePair<string, string>>? headers, string body) =>
        Response(status, headers, Encoding.UTF8.GetBytes(body ?? ""));

    /// <summary>Body bytes (a binary message on a WebSocket). The channel reads them when it writes: do not change them until then.</summary>
    public static ChannelData Bytes(ReadOnlyMemory<byte> body) => new(null, null, body, false);

    /// <summary>
    /// The first <paramref name="length"/> bytes of pooled memory, which the channel gives back (disposes) once written
    /// or dropped: a producer that copies each piece of a body need not allocate one array per piece.
    /// </summary>
    public static ChannelData Bytes(IMemoryOwner<byte> owner, int length)
    {
        ArgumentNullException.ThrowIfNull(owner);
        return new ChannelData(null, null, owner.Memory[..length], false) { _owner = owner };
    }

    /// <summary>A response with status, headers and a first piece of body in pooled memory, given back once written or dropped.</summary>
    public static ChannelData Response(int status, IEnumerable<KeyValuePair<string, string>>? headers, IMemoryOwner<byte> owner, int length)
    {
        ArgumentNullException.ThrowIfNull(owner);
        var data = Response(status, headers, owner.Memory[..length]);
        data._owner = owner;
        return data;
    }

    private IMemoryOwner<byte>? _owner;

    /// <summary>Gives pooled memory back once the channel is done with it.</summary>
    internal void Release() => Interlocked.Exchange(ref _owner, null)?.Dispose();

    /// <summary>Body text, sent as UTF-8 (a text message on a WebSocket).</summary>
    public static ChannelData Text(string text) => new(null, null, Encoding.UTF8.GetBytes(text ?? ""), true);
}
