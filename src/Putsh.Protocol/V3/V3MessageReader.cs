using System.Buffers;
using System.Net.WebSockets;

namespace Putsh.Protocol.V3;

/// <summary>
/// Receives whole cranker_3.0 messages from a WebSocket, joining fragments (§5.1: senders never fragment, receivers
/// reassemble anyway) into one pooled buffer that grows as needed up to the largest message allowed.
/// </summary>
/// <remarks>
/// An idle socket holds no buffer: each message is awaited with a zero-byte receive, which completes once a frame
/// header has arrived (ping and pong frames are answered and skipped inside it), and the buffer is rented only then.
/// When the next message is already there, as on a busy socket, that wait completes at once and the buffer is kept;
/// only a wait that really waits gives it back first. A router or connector holding thousands of idle sockets then
/// pays nothing for them here.
/// </remarks>
internal sealed class V3MessageReader(int maxMessage = V3MessageReader.DefaultMaxMessage) : IDisposable
{
    /// <summary>Largest message accepted by default: a 64 KiB frame with room to spare; anything larger is a protocol error.</summary>
    public const int DefaultMaxMessage = 1024 * 1024;

    /// <summary>The buffer rented when a message arrives; it grows (by renting again) for longer messages.</summary>
    internal const int InitialBufferSize = V3Frame.PrefixLength + 16 * 1024;

    private byte[]? _buffer;

    // The size of the last buffer taken by a consumer (TakeBuffer), so that its replacement is rented at that size
    // rather than grown to it again by copying.
    private int _nextBufferSize = InitialBufferSize;

    /// <summary>The last message received, valid until the next call.</summary>
    public ReadOnlyMemory<byte> Message { get; private set; }

    /// <summary>True while a pooled buffer is held (from a message's arrival until a wait for the next one blocks).</summary>
    internal bool HoldsBuffer => _buffer is not null;

    /// <summary>Reads one message. Returns its type; Close ends the socket. Throws <see cref="InvalidDataException"/> for an oversized one.</summary>
    public async ValueTask<WebSocketMessageType> ReceiveAsync(WebSocket socket, CancellationToken cancellationToken)
    {
        Message = ReadOnlyMemory<byte>.Empty;
        var arrival = socket.ReceiveAsync(Memory<byte>.Empty, cancellationToken);
        ValueWebSocketReceiveResult first;
        if (arrival.IsCompletedSuccessfully)
        {
            first = arrival.Result;
        }
        else
        {
            ReturnBuffer();
            first = await arrival.ConfigureAwait(false);
        }

        if (first.MessageType == WebSocketMessageType.Close || first.EndOfMessage)
        {
            // A close, or an empty message (a zero-length frame, already consumed by the zero-byte receive).
            return first.MessageType;
        }

        var buffer = _buffer ??= ArrayPool<byte>.Shared.Rent(_nextBufferSize);
        var length = 0;
        while (true)
        {
            if (length == buffer.Length)
            {
                if (length > maxMessage)
                {
                    throw new InvalidDataException("cranker_3.0 message larger than " + maxMessage + " bytes");
                }

                // One byte past the limit is room enough to see that a message passes it.
                var bigger = ArrayPool<byte>.Shared.Rent(Math.Min(maxMessage + 1, buffer.Length * 2));
                buffer.AsSpan(0, length).CopyTo(bigger);
                ArrayPool<byte>.Shared.Return(buffer);
                _buffer = buffer = bigger;
            }

            var result = await socket.ReceiveAsync(buffer.AsMemory(length), cancellationToken).ConfigureAwait(false);
            length += result.Count;
            if (length > maxMessage)
            {
                throw new InvalidDataException("cranker_3.0 message larger than " + maxMessage + " bytes");
            }

            if (result.MessageType == WebSocketMessageType.Close || result.EndOfMessage)
            {
                Message = buffer.AsMemory(0, length);
                return result.MessageType;
            }
        }
    }

    /// <summary>
    /// Gives the pooled array holding <see cref="Message"/> to the caller, who returns it to
    /// <see cref="ArrayPool{T}.Shared"/>; <see cref="Message"/> is empty from then on, and the next message is read
    /// into a new array of the same size. This is how a DATA payload is queued without being copied.
    /// </summary>
    public byte[] TakeBuffer()
    {
        var buffer = _buffer ?? throw new InvalidOperationException("No message buffer is held.");
        _buffer = null;
        _nextBufferSize = buffer.Length;
        Message = ReadOnlyMemory<byte>.Empty;
        return buffer;
    }

    public void Dispose()
    {
        Message = ReadOnlyMemory<byte>.Empty;
        ReturnBuffer();
    }

    private void ReturnBuffer()
    {
        if (_buffer is { } buffer)
        {
            _buffer = null;
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}
