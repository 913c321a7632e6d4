using System.Text;

namespace Putsh.Protocol.Channels;

/// <summary>A message received from the peer: text or bytes.</summary>
public sealed class ChannelMessage
{
    private ChannelMessage(bool isText, ReadOnlyMemory<byte> data)
    {
        IsText = isText;
        Data = data;
    }

    /// <summary>True for a text message (its <see cref="Data"/> is UTF-8).</summary>
    public bool IsText { get; }

    /// <summary>The message's bytes. Valid only during the handler call; copy what must outlive it.</summary>
    public ReadOnlyMemory<byte> Data { get; }

    /// <summary>The message as text (UTF-8 decoded).</summary>
    public string Text => Encoding.UTF8.GetString(Data.Span);

    /// <summary>A binary message.</summary>
    public static ChannelMessage Binary(ReadOnlyMemory<byte> data) => new(false, data);

    /// <summary>A text message from its UTF-8 bytes.</summary>
    public static ChannelMessage Utf8Text(ReadOnlyMemory<byte> data) => new(true, data);
}
