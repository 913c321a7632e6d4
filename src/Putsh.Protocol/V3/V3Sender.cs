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
    /// <paramref name="window"/>.
    /// </summary>
    public async ValueTask SendHeadAsync(int requestId, string head, bool endStream, bool endStreamOnEveryPiece, FlowWindow window, CancellationToken cancellationToken)
    {
        var pieces = V3Frame.SplitHead(head);
        for (var i = 0; i < pieces.Count; i++)
        {
            var piece = pieces[i];
            var buffer = ArrayPool<byte>.Shared.Rent(V3Frame.PrefixLength + Encoding.UTF8.GetMaxByteCount(piece.Length));
            try
            {
                var n = Encoding.UTF8.GetBytes(piece, buffer.AsSpan(V3Frame.PrefixLength));
                V3Frame.WritePrefix(buffer, V3Type.Header, V3Frame.HeadPieceFlags(i, pieces.Count, endStream, endStreamOnEveryPiece), requestId);
                await Gate.SendAsync(buffer.AsMemory(0, V3Frame.PrefixLength + n), WebSocketMessageType.Binary, cancellationToken).ConfigureAwait(false);
                window.OnSent(n);
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
        }
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

    /// <summary>Sends the empty DATA with END_STREAM that ends a body (§5.4).</summary>
    public ValueTask SendEndAsync(int requestId, CancellationToken cancellationToken)
    {
        var buffer = new byte[V3Frame.PrefixLength];
        return SendDataAsync(buffer, 0, requestId, V3Flags.EndStream, null, cancellationToken);
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
