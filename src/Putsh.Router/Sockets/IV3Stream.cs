namespace Putsh.Router.Sockets;

/// <summary>One request in flight on a cranker_3.0 socket, as the socket's receive loop sees it.</summary>
internal interface IV3Stream
{
    /// <summary>A HEADER piece arrived (already acknowledged): its UTF-8 payload, valid until the call returns.</summary>
    void OnHeadPiece(ReadOnlySpan<byte> utf8Piece, byte flags);

    /// <summary>DATA arrived; the stream takes what it needs (valid until it returns) and acknowledges once written to the client.</summary>
    void OnData(Putsh.Protocol.V3.V3Payload payload, bool endStream);

    /// <summary>The connector reset the stream (§5.5).</summary>
    void OnReset(int code, string message);

    /// <summary>A WINDOW_UPDATE for this stream (§5.6).</summary>
    void OnWindowUpdate(int consumed);

    /// <summary>The socket ended with these streams still open (§5.7).</summary>
    void OnSocketEnded(SocketEnd end, string? detail);
}
