namespace Putsh.Protocol.V1;

/// <summary>The end markers of cranker_1.0 (§4.2).</summary>
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
}
