using System.Text;

namespace Putsh.Protocol.V1;

/// <summary>The end markers of cranker_1.0 (§4.2), and allocation-free ways to write and read them.</summary>
internal static class V1Markers
{
    /// <summary>Appended to a request head: the body follows as binary frames and ends with <see cref="RequestBodyEnded"/>.</summary>
    public const string RequestHasBody = "_1";

    /// <summary>Appended to a request head: the request has no body.</summary>
    public const string RequestHasNoBody = "_2";

    /// <summary>A text message of its own: the request body is complete.</summary>
    public const string RequestBodyEnded = "_3";

    /// <summary>Largest text head either side accepts, in characters, as mu and jconn (§4.4, §8.2).</summary>
    public const int MaxHeadLength = 64 * 1024;

    /// <summary>Largest binary frame a peer is guaranteed to accept (mu's frame limit, §4.7).</summary>
    public const int MaxFrameLength = 64 * 1024;

    /// <summary>Length of every marker, in characters and in UTF-8 bytes.</summary>
    public const int MarkerLength = 2;

    /// <summary>UTF-8 of <see cref="RequestHasBody"/>.</summary>
    public static ReadOnlySpan<byte> RequestHasBodyUtf8 => "_1"u8;

    /// <summary>UTF-8 of <see cref="RequestHasNoBody"/>.</summary>
    public static ReadOnlySpan<byte> RequestHasNoBodyUtf8 => "_2"u8;

    /// <summary>UTF-8 of <see cref="RequestBodyEnded"/>: the whole text message that ends a request body.</summary>
    public static ReadOnlySpan<byte> RequestBodyEndedUtf8 => "_3"u8;

    /// <summary>Bytes <see cref="WriteRequestHead"/> may need for a head of <paramref name="headChars"/> characters.</summary>
    public static int MaxRequestHeadBytes(int headChars) => 3 * headChars + MarkerLength;

    /// <summary>
    /// Writes the v1 request head message (§4.2) as UTF-8: <paramref name="head"/> (which ends with its blank line)
    /// followed by <c>_1</c> or <c>_2</c>. <paramref name="destination"/> needs <see cref="MaxRequestHeadBytes"/>.
    /// Returns the number of bytes written. Never allocates.
    /// </summary>
    public static int WriteRequestHead(Span<byte> destination, ReadOnlySpan<char> head, bool hasBody)
    {
        var n = Encoding.UTF8.GetBytes(head, destination);
        (hasBody ? RequestHasBodyUtf8 : RequestHasNoBodyUtf8).CopyTo(destination[n..]);
        return n + MarkerLength;
    }

    /// <summary>
    /// Reads the marker on the last line of a request head message (a trailing CR ignored), as jconn does.
    /// <paramref name="head"/> is the text before that line. False when the last line is neither <c>_1</c> nor <c>_2</c>.
    /// </summary>
    public static bool TryReadMarker(ReadOnlySpan<char> message, out bool hasBody, out ReadOnlySpan<char> head)
    {
        var lastLine = message.LastIndexOf('\n') + 1;
        var marker = message[lastLine..].TrimEnd('\r');
        head = message[..lastLine];
        hasBody = marker.SequenceEqual(RequestHasBody);
        if (hasBody || marker.SequenceEqual(RequestHasNoBody))
        {
            return true;
        }

        head = default;
        return false;
    }

    /// <summary>True when a whole text message is <c>_3</c>, the end of the request body (§4.3).</summary>
    public static bool IsRequestBodyEnded(ReadOnlySpan<byte> utf8Message) => utf8Message.SequenceEqual(RequestBodyEndedUtf8);
}
