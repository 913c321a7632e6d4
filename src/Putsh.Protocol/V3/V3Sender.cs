using System.Buffers;
using System.Net.WebSockets;
using System.Text;
using Putsh.Protocol.Transport;

namespace Putsh.Protocol.V3;

/// <summary>Writes cranker_3.0 messages, each as one whole binary WebSocket message (§5.1), through a <see cref="SendGate"/>.</summary>
internal sealed class V3Sender(SendGate gate)
{
    public SendGate Gate { get; } = gate;

    /// <summary>
    /// Sends a head as HEADER pieces of at most 16000 characters (§5.3), counting each piece's payload against
    /// <paramref name="window"/> (unless the peers agreed that heads are not acknowledged).
    /// </summary>
    public async ValueTask SendHeadAsync(int requestId, string head, bool endStream, bool endStreamOnEveryPiece, FlowWindow window, CancellationToken cancellationToken)
    {
        // Cut and encoded piece by piece straight from the string: no substrings, one pooled buffer.
        var count = V3Frame.CountHeadPieces(head);
        var buffer = ArrayPool<byte>.Shared.Rent(V3Frame.PrefixLength + Encoding.UTF8.GetMaxByteCount(Math.Min(head.Length, V3Frame.HeadPieceChars)));
        try
        {
            var start = 0;
            for (var i = 0; i < count; i++)
            {
                var length = V3Frame.NextHeadPieceLength(head.AsSpan(start));
                var flags = V3Frame.HeadPieceFlags(i, count, endStream, endStreamOnEveryPiece);
                var n = V3Frame.WriteHeader(buffer, requestId, flags, head.AsSpan(start, length));
                start += length;
                await Gate.SendAsync(buffer.AsMemory(0, n), WebSocketMessageType.Binary, cancellationToken).ConfigureAwait(false);
                window.OnHeadSent(n - V3Frame.PrefixLength);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>
    /// Ends this direction of a stream with a trailer section (§12.8, only where the peers agreed <c>trailers</c>):
    /// HEADER pieces cut as a head's are, END_STREAM on the final piece only. <paramref name="text"/> comes from
    /// <see cref="TrailersExtension.TryAppend"/> and is not empty.
    /// </summary>
    public ValueTask SendTrailersAsync(int requestId, string text, FlowWindow window, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(text);
        return SendHeadAsync(requestId, text, endStream: true, endStreamOnEveryPiece: false, window, cancellationToken);
    }

    /// <summary>
    /// Sends a DATA message whose payload the caller already put at offset 6 of <paramref name="buffer"/>, so body
    /// bytes are never copied.
    /// </summary>
    public async ValueTask SendDataAsync(byte[] buffer, int payloadLength, int requestId, byte flags, FlowWindow? window, CancellationToken cancellationToken)
    {
        V3Frame.WritePrefix(buffer, V3Type.Data, flags, requestId);
        await Gate.SendAsync(buffer.AsMemory(0, V3Frame.PrefixLength + payloadLength), WebSocketMessageType.Binary, cancellationToken).ConfigureAwait(false);
        window?.OnSent(payloadLength);
    }

    /// <summary>
    /// Sends a whole body from <paramref name="source"/> as DATA of up to <paramref name="chunkSize"/> bytes, reading
    /// on only while <paramref name="window"/> is writable (§5.6), and ends it (§5.4): a body of known
    /// <paramref name="length"/> with END_STREAM on the DATA carrying its last bytes, which every peer accepts, any
    /// other with an empty DATA+END_STREAM. With <paramref name="trailers"/> (the <c>trailers</c> extension, §12.8) the
    /// source is read to its end whatever its length, and the body ends with the trailer section that function then
    /// gives (<see cref="TrailersExtension.TryAppend"/> text), or as above when it gives none. Read failures are the
    /// caller's to report; a failure to send is a <see cref="V3SendFailedException"/>, so that the caller can tell the
    /// two apart. Returns the body bytes sent.
    /// </summary>
    public async Task<long> SendBodyAsync(Stream source, long? length, int chunkSize, int requestId, FlowWindow window, CancellationToken cancellationToken, Func<string?>? trailers = null)
    {
        if (trailers is not null)
        {
            length = null; // the end waits for the source's end, which is when its trailers are known
        }

        var size = Math.Min(chunkSize, V3Frame.MaxPayload);
        var remaining = length ?? -1;
        long sent = 0;
        var buffer = ArrayPool<byte>.Shared.Rent(V3Frame.PrefixLength + size);
        try
        {
            while (true)
            {
                await window.WaitWritableAsync(cancellationToken).ConfigureAwait(false);
                var n = await source.ReadAsync(buffer.AsMemory(V3Frame.PrefixLength, size), cancellationToken).ConfigureAwait(false);
                if (n == 0)
                {
                    break;
                }

                remaining -= n;
                sent += n;
                try
                {
                    await SendDataAsync(buffer, n, requestId, remaining == 0 ? V3Flags.EndStream : V3Flags.None, window, cancellationToken).ConfigureAwait(false);
                }
                catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
                {
                    throw new V3SendFailedException(ex);
                }

                if (remaining == 0)
                {
                    return sent;
                }
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }

        var text = trailers?.Invoke();
        try
        {
            if (string.IsNullOrEmpty(text))
            {
                await SendEndAsync(requestId, cancellationToken).ConfigureAwait(false);
            }
            else
            {
                await SendTrailersAsync(requestId, text, window, cancellationToken).ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
        {
            throw new V3SendFailedException(ex);
        }

        return sent;
    }

    /// <summary>Sends the empty DATA with END_STREAM that ends a body (§5.4).</summary>
    public async ValueTask SendEndAsync(int requestId, CancellationToken cancellationToken)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(V3Frame.PrefixLength);
        try
        {
            await SendDataAsync(buffer, 0, requestId, V3Flags.EndStream, null, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>
    /// Queues a WINDOW_UPDATE without waiting for room on the socket (§5.6): a receive loop acknowledges this way, so
    /// that it never stops reading because its own outbound queue is full. A socket that is gone drops it.
    /// </summary>
    public void QueueWindowUpdate(int requestId, int consumed)
    {
        if (Gate.Socket is WebSockets.PutshWebSocket own)
        {
            Span<byte> buffer = stackalloc byte[16];
            var n = V3Frame.WriteWindowUpdate(buffer, requestId, consumed);
            own.TrySendUnbounded(buffer[..n], WebSocketMessageType.Binary);
            return;
        }

        Observe(SendWindowUpdateAsync(requestId, consumed, CancellationToken.None));
    }

    /// <summary>Queues an RST_STREAM without waiting for room on the socket (§5.5); a socket that is gone drops it.</summary>
    public void QueueRst(int requestId, int errorCode, string? message)
    {
        if (Gate.Socket is WebSockets.PutshWebSocket own)
        {
            message = message is null ? null : WebSocketClose.TruncateReason(message);
            Span<byte> buffer = stackalloc byte[V3Frame.PrefixLength + 4 + V3Frame.MaxRstMessageBytes];
            var n = V3Frame.WriteRst(buffer, requestId, errorCode, message);
            own.TrySendUnbounded(buffer[..n], WebSocketMessageType.Binary);
            return;
        }

        Observe(SendRstAsync(requestId, errorCode, message, CancellationToken.None));
    }

    // Another WebSocket (a test double): sent in the background, a failure ignored as for putsh's own.
    private static void Observe(ValueTask send)
    {
        if (!send.IsCompleted)
        {
            _ = send.AsTask().ContinueWith(static t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        }
        else if (!send.IsCompletedSuccessfully)
        {
            _ = send.AsTask().Exception;
        }
    }

    public async ValueTask SendWindowUpdateAsync(int requestId, int consumed, CancellationToken cancellationToken)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(16);
        try
        {
            var n = V3Frame.WriteWindowUpdate(buffer, requestId, consumed);
            await Gate.SendAsync(buffer.AsMemory(0, n), WebSocketMessageType.Binary, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    public async ValueTask SendRstAsync(int requestId, int errorCode, string? message, CancellationToken cancellationToken)
    {
        message = message is null ? null : WebSocketClose.TruncateReason(message);
        var buffer = ArrayPool<byte>.Shared.Rent(V3Frame.PrefixLength + 4 + V3Frame.MaxRstMessageBytes);
        try
        {
            var n = V3Frame.WriteRst(buffer, requestId, errorCode, message);
            await Gate.SendAsync(buffer.AsMemory(0, n), WebSocketMessageType.Binary, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}

/// <summary>Sending on the socket failed (it broke, or was closed): the fault of neither the body's source nor its stream.</summary>
internal sealed class V3SendFailedException(Exception inner) : IOException("Sending on the socket failed: " + inner.Message, inner);
