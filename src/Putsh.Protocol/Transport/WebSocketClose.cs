using System.Net.WebSockets;
using System.Text;

namespace Putsh.Protocol.Transport;

/// <summary>Helpers for ending WebSockets the way Cranker peers expect (§4.6).</summary>
internal static class WebSocketClose
{
    /// <summary>RFC 6455 limits a close reason to 123 UTF-8 bytes; longer ones are cut at a character boundary.</summary>
    public const int MaxReasonBytes = 123;

    /// <summary>Returns <paramref name="reason"/> cut to at most 123 UTF-8 bytes, never splitting a character.</summary>
    public static string TruncateReason(string? reason)
    {
        if (string.IsNullOrEmpty(reason))
        {
            return "";
        }

        if (Encoding.UTF8.GetByteCount(reason) <= MaxReasonBytes)
        {
            return reason;
        }

        var bytes = 0;
        var i = 0;
        while (i < reason.Length)
        {
            var charCount = char.IsHighSurrogate(reason[i]) && i + 1 < reason.Length ? 2 : 1;
            var n = Encoding.UTF8.GetByteCount(reason.AsSpan(i, charCount));
            if (bytes + n > MaxReasonBytes)
            {
                break;
            }

            bytes += n;
            i += charCount;
        }

        return reason[..i];
    }

    /// <summary>
    /// Sends a close frame and gives up after <paramref name="timeout"/>, aborting the socket instead: a peer that
    /// does not read must never hold us. Never throws.
    /// </summary>
    public static async Task CloseOutputQuietlyAsync(WebSocket socket, WebSocketCloseStatus status, string? reason, TimeSpan timeout, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(socket);
        try
        {
            if (socket.State is WebSocketState.Open or WebSocketState.CloseReceived)
            {
                using var cts = new CancellationTokenSource(timeout, time);
                await socket.CloseOutputAsync(status, TruncateReason(reason), cts.Token).ConfigureAwait(false);
            }
        }
        catch
        {
            socket.Abort();
        }
    }

    /// <summary>
    /// After we closed first: reads on, discarding, until the peer answers with its close or <paramref name="timeout"/>
    /// passes, since an abort at once could reset the connection before our close frame is read. Never throws.
    /// </summary>
    public static async Task DrainUntilClosedAsync(WebSocket socket, TimeSpan timeout, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(socket);
        var scratch = System.Buffers.ArrayPool<byte>.Shared.Rent(1024);
        try
        {
            using var cts = new CancellationTokenSource(timeout, time);
            while ((await socket.ReceiveAsync(scratch.AsMemory(), cts.Token).ConfigureAwait(false)).MessageType != WebSocketMessageType.Close)
            {
            }
        }
        catch (Exception)
        {
            // Whatever the peer does now, the socket is finished.
        }
        finally
        {
            System.Buffers.ArrayPool<byte>.Shared.Return(scratch);
        }
    }
}
