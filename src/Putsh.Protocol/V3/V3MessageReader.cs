using System.Buffers;
using System.Net.WebSockets;

namespace Putsh.Protocol.V3;

/// <summary>
/// Receives whole cranker_3.0 messages from a WebSocket, joining fragments (§5.1: senders never fragment, receivers
/// reassemble anyway) into one pooled buffer that grows as needed up to <see cref="MaxMessage"/>.
/// </summary>
internal sealed class V3MessageReader : IDisposable
{
    /// <summary>Largest message accepted: a 64 KiB frame with room to spare; anything larger is a protocol error.</summary>
    public const int MaxMessage = 1024 * 1024;

    private byte[] _buffer = ArrayPool<byte>.Shared.Rent(V3Frame.PrefixLength + 16 * 1024);

    /// <summary>The last message received, valid until the next call.</summary>
    public ReadOnlyMemory<byte> Message { get; private set; }

    /// <summary>Reads one message. Returns its type; Close ends the socket. Throws <see cref="InvalidDataException"/> for an oversized one.</summary>
    public async ValueTask<WebSocketMessageType> ReceiveAsync(WebSocket socket, CancellationToken cancellationToken)
    {
        var length = 0;
        while (true)
        {
            if (length == _buffer.Length)
            {
                if (_buffer.Length >= MaxMessage)
                {
                    throw new InvalidDataException("cranker_3.0 message larger than " + MaxMessage + " bytes");
                }

                var bigger = ArrayPool<byte>.Shared.Rent(Math.Min(MaxMessage, _buffer.Length * 2));
                _buffer.AsSpan(0, length).CopyTo(bigger);
                ArrayPool<byte>.Shared.Return(_buffer);
                _buffer = bigger;
            }

            var result = await socket.ReceiveAsync(_buffer.AsMemory(length), cancellationToken).ConfigureAwait(false);
            length += result.Count;
            if (result.MessageType == WebSocketMessageType.Close || result.EndOfMessage)
            {
                Message = _buffer.AsMemory(0, length);
                return result.MessageType;
            }
        }
    }

    public void Dispose()
    {
        ArrayPool<byte>.Shared.Return(_buffer);
        _buffer = [];
    }
}
