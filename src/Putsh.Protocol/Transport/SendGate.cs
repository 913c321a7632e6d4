using System.Net.WebSockets;

namespace Putsh.Protocol.Transport;

/// <summary>
/// Serialises sends on one WebSocket: a Cranker message is always one whole frame (§9), and closes must not
/// interleave with a frame in progress.
/// </summary>
internal sealed class SendGate(WebSocket socket) : IDisposable
{
    private readonly SemaphoreSlim _gate = new(1, 1);

    public WebSocket Socket { get; } = socket;

    public ValueTask SendAsync(ReadOnlyMemory<byte> data, WebSocketMessageType type, CancellationToken cancellationToken) =>
        // putsh's own WebSocket queues each whole message atomically, closes included: no lock to take.
        Socket is WebSockets.PutshWebSocket own
            ? own.SendAsync(data, type, endOfMessage: true, cancellationToken)
            : SendLockedAsync(data, type, cancellationToken);

    private async ValueTask SendLockedAsync(ReadOnlyMemory<byte> data, WebSocketMessageType type, CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await Socket.SendAsync(data, type, endOfMessage: true, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _gate.Release();
        }
    }

    public async ValueTask SendTextAsync(string text, CancellationToken cancellationToken)
    {
        var max = System.Text.Encoding.UTF8.GetMaxByteCount(text.Length);
        var buffer = System.Buffers.ArrayPool<byte>.Shared.Rent(max);
        try
        {
            var n = System.Text.Encoding.UTF8.GetBytes(text, buffer);
            await SendAsync(buffer.AsMemory(0, n), WebSocketMessageType.Text, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            System.Buffers.ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>Closes our side after any frame in progress; gives up and aborts after <paramref name="timeout"/>.</summary>
    public async Task CloseAsync(WebSocketCloseStatus status, string? reason, TimeSpan timeout, TimeProvider time)
    {
        if (Socket is WebSockets.PutshWebSocket)
        {
            await WebSocketClose.CloseOutputQuietlyAsync(Socket, status, reason, timeout, time).ConfigureAwait(false);
            return;
        }

        using var cts = new CancellationTokenSource(timeout, time);
        try
        {
            await _gate.WaitAsync(cts.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            Socket.Abort();
            return;
        }

        try
        {
            await WebSocketClose.CloseOutputQuietlyAsync(Socket, status, reason, timeout, time).ConfigureAwait(false);
        }
        finally
        {
            _gate.Release();
        }
    }

    public void Dispose() => _gate.Dispose();
}
