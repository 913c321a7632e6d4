using System.Buffers;
using System.Buffers.Binary;
using System.Net.WebSockets;
using System.Text;
using Putsh.Protocol.Transport;

namespace Putsh.Protocol.V3;

/// <summary>
/// The putsh <c>websocket</c> extension's message framing inside cranker_3.0 DATA payloads
/// (docs/websocket-extension.md): byte 0 the kind, byte 1 the flags, then the fragment bytes.
/// </summary>
internal static class WsFrame
{
    public const string ExtensionsHeaderName = "Putsh-Extensions";

    public const string WebSocketExtension = "websocket";

    /// <summary>
    /// The <c>Putsh-Extensions</c> value naming the <c>websocket</c> extension, a <c>flow-window</c> (when above 0)
    /// and, only with a flow-window, <c>no-head-ack</c> or <c>no-response-head-ack</c> for heads that go
    /// unacknowledged, then <c>trailers</c>, as a connector offers them and a router answers; null when there is
    /// nothing to name.
    /// </summary>
    public static string? ExtensionsValue(bool webSocket, int flowWindow, HeadAcks headAcks = HeadAcks.Both, bool trailers = false, bool tcp = false)
    {
        var value = webSocket ? WebSocketExtension : null;
        if (flowWindow > 0)
        {
            value = value is null ? FlowWindowExtension.Token(flowWindow) : value + ", " + FlowWindowExtension.Token(flowWindow);
            value += headAcks switch
            {
                HeadAcks.None => ", " + FlowWindowExtension.NoHeadAck,
                HeadAcks.Request => ", " + FlowWindowExtension.NoResponseHeadAck,
                _ => "",
            };
        }

        if (trailers)
        {
            value = value is null ? TrailersExtension.Name : value + ", " + TrailersExtension.Name;
        }

        if (tcp)
        {
            value = value is null ? TcpExtension.Name : value + ", " + TcpExtension.Name;
        }

        return value;
    }

    public const byte Text = 0x01;
    public const byte Binary = 0x02;
    public const byte Close = 0x08;

    /// <summary>Flag: this fragment is the last of its message.</summary>
    public const byte Last = 0x01;

    public const int HeaderLength = 2;

    /// <summary>Largest fragment that fits one DATA payload.</summary>
    public const int MaxFragment = V3Frame.MaxPayload - HeaderLength;

    /// <summary>True when a comma-separated <c>Putsh-Extensions</c> value names <paramref name="extension"/>.</summary>
    public static bool Names(IEnumerable<string?> values, string extension)
    {
        foreach (var value in values)
        {
            if (value is null)
            {
                continue;
            }

            foreach (var token in value.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
            {
                if (token.Equals(extension, StringComparison.OrdinalIgnoreCase))
                {
                    return true;
                }
            }
        }

        return false;
    }

    /// <summary>A close code may be sent on a WebSocket (RFC 6455 §7.4): 1000–1003, 1007–1011, 3000–4999.</summary>
    public static bool IsSendable(int code) => code is (>= 1000 and <= 1003) or (>= 1007 and <= 1014) or (>= 3000 and <= 4999);

    /// <summary>Writes a close payload (kind, flags, optional code, reason) at <paramref name="destination"/>; returns its length.</summary>
    public static int WriteClose(Span<byte> destination, int? code, string? reason)
    {
        destination[0] = Close;
        destination[1] = Last;
        if (code is null)
        {
            return HeaderLength;
        }

        BinaryPrimitives.WriteUInt16BigEndian(destination[HeaderLength..], (ushort)code.Value);
        var n = Encoding.UTF8.GetBytes(WebSocketClose.TruncateReason(reason), destination[(HeaderLength + 2)..]);
        return HeaderLength + 2 + n;
    }

    /// <summary>Reads a close payload's code (null when absent) and reason.</summary>
    public static (int? Code, string Reason) ReadClose(ReadOnlySpan<byte> payload)
    {
        if (payload.Length < HeaderLength + 2)
        {
            return (null, "");
        }

        var code = BinaryPrimitives.ReadUInt16BigEndian(payload[HeaderLength..]);
        return (code, Encoding.UTF8.GetString(payload[(HeaderLength + 2)..]));
    }
}

/// <summary>
/// One WebSocket carried on a cranker_3.0 stream, either side: DATA from the peer is queued (bounded by the flow
/// window) and written to the local WebSocket, acknowledged once written; messages from the local WebSocket are
/// cut into fragments and sent as DATA within the window. Used with a real WebSocket (<see cref="RunAsync"/>) or
/// by an in-process channel (<see cref="Inbound"/>, <see cref="SendMessageAsync"/>).
/// </summary>
#pragma warning disable CA1001 // _cts has no timer and no wait handle: nothing to release.
internal sealed class WsTunnel(V3Sender sender, int requestId, FlowWindow window)
#pragma warning restore CA1001
{
    /// <summary>How long a side waits for the other half of a close handshake before giving up.</summary>
    public static readonly TimeSpan CloseTimeout = TimeSpan.FromSeconds(10);

    /// <summary>The clock of <see cref="CloseTimeout"/>.</summary>
    public TimeProvider Time { get; init; } = TimeProvider.System;

    private readonly V3Inbound _inbound = new(window.HighWatermark);
    private readonly CancellationTokenSource _cts = new();
    private int _closeSent;
    private int _endSent;
    private volatile bool _reset;

    public int RequestId => requestId;

    /// <summary>True once the peer reset the stream.</summary>
    public bool WasReset => _reset;

    /// <summary>What arrived from the peer, in order: each DATA payload a putsh WebSocket fragment (or close); the end as <see cref="V3Inbound.Ending"/>.</summary>
    public V3Inbound Inbound => _inbound;

    /// <summary>A DATA payload from the peer (receive loop). False when the peer overran the window.</summary>
    public bool OnData(V3Payload payload, bool endStream) => _inbound.TryEnqueue(payload, endStream);

    /// <summary>The peer reset the stream: both WebSockets are aborted.</summary>
    public void OnReset()
    {
        _reset = true;
        window.Release();
        _inbound.End(V3InboundEnd.Reset);
        _cts.Cancel();
    }

    /// <summary>The socket carrying the stream ended.</summary>
    public void OnLost()
    {
        // Nothing more can be sent; the local WebSocket is closed with 1001 by the write loop.
        _reset = true;
        window.Release();
        _inbound.End(V3InboundEnd.SessionEnded);
    }

    /// <summary>Acknowledges <paramref name="bytes"/> of DATA payload (§5.6). Never throws.</summary>
    public async ValueTask AcknowledgeAsync(int bytes)
    {
        if (bytes <= 0 || _reset)
        {
            return;
        }

        try
        {
            await sender.SendWindowUpdateAsync(requestId, bytes, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception)
        {
            // The socket is gone; its receive loop reports it.
        }
    }

    /// <summary>Sends a whole message as fragments within the window.</summary>
    public async ValueTask SendMessageAsync(bool text, ReadOnlyMemory<byte> message, CancellationToken cancellationToken)
    {
        var size = Math.Min(message.Length, WsFrame.MaxFragment);
        var buffer = ArrayPool<byte>.Shared.Rent(V3Frame.PrefixLength + WsFrame.HeaderLength + size);
        try
        {
            var offset = 0;
            do
            {
                var n = Math.Min(WsFrame.MaxFragment, message.Length - offset);
                message.Span.Slice(offset, n).CopyTo(buffer.AsSpan(V3Frame.PrefixLength + WsFrame.HeaderLength));
                offset += n;
                await SendFragmentAsync(buffer, text ? WsFrame.Text : WsFrame.Binary, offset == message.Length, n, cancellationToken).ConfigureAwait(false);
            }
            while (offset < message.Length);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>Sends a close (once); null code means a close without a code. Never throws.</summary>
    public async ValueTask SendCloseAsync(int? code, string? reason)
    {
        if (_reset || Interlocked.Exchange(ref _closeSent, 1) != 0)
        {
            return;
        }

        var buffer = new byte[V3Frame.PrefixLength + WsFrame.HeaderLength + 2 + WebSocketClose.MaxReasonBytes];
        var n = WsFrame.WriteClose(buffer.AsSpan(V3Frame.PrefixLength), code, reason);
        try
        {
            // A close is not held back by the window: it is small and ends the flow.
            await sender.SendDataAsync(buffer, n, requestId, V3Flags.None, window, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception)
        {
        }
    }

    /// <summary>True once a close was sent to the peer.</summary>
    public bool CloseSent => Volatile.Read(ref _closeSent) != 0;

    /// <summary>Sends the empty DATA with END_STREAM that ends the stream (once). Never throws.</summary>
    public async ValueTask SendEndAsync()
    {
        if (_reset || Interlocked.Exchange(ref _endSent, 1) != 0)
        {
            return;
        }

        try
        {
            await sender.SendEndAsync(requestId, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception)
        {
        }
    }

    /// <summary>Resets the stream (once) and stops. Never throws.</summary>
    public async ValueTask ResetAsync(int code, string message)
    {
        if (_reset)
        {
            return;
        }

        OnReset();
        try
        {
            await sender.SendRstAsync(requestId, code, message, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception)
        {
        }
    }

    private async ValueTask SendFragmentAsync(byte[] buffer, byte kind, bool last, int length, CancellationToken cancellationToken)
    {
        await window.WaitWritableAsync(cancellationToken).ConfigureAwait(false);
        cancellationToken.ThrowIfCancellationRequested();
        buffer[V3Frame.PrefixLength] = kind;
        buffer[V3Frame.PrefixLength + 1] = last ? WsFrame.Last : (byte)0;
        await sender.SendDataAsync(buffer, WsFrame.HeaderLength + length, requestId, V3Flags.None, window, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Relays between <paramref name="socket"/> and the stream until both directions are closed, then ends the stream.
    /// Completes when the WebSocket is finished; never throws.
    /// </summary>
    public async Task RunAsync(WebSocket socket)
    {
        using var abort = _cts.Token.Register(static s => ((WebSocket)s!).Abort(), socket);
        var read = ReadLoopAsync(socket);
        var write = WriteLoopAsync(socket);
        var first = await Task.WhenAny(read, write).ConfigureAwait(false);
        var other = first == read ? write : read;
        try
        {
            // One direction is closed (or broke); the other half of the close handshake must follow within the timeout.
            await other.WaitAsync(CloseTimeout, Time).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            _cts.Cancel();
            socket.Abort();
            await other.ConfigureAwait(false);
        }

        await SendEndAsync().ConfigureAwait(false);
        Drain();
    }

    private void Drain() => _inbound.Dispose();

    /// <summary>Local WebSocket to the stream.</summary>
    private async Task ReadLoopAsync(WebSocket socket)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(V3Frame.PrefixLength + WsFrame.HeaderLength + WsFrame.MaxFragment);
        var token = _cts.Token;
        try
        {
            while (true)
            {
                // Read from the local WebSocket only while the peer keeps up (§5.6).
                await window.WaitWritableAsync(token).ConfigureAwait(false);
                var result = await socket.ReceiveAsync(buffer.AsMemory(V3Frame.PrefixLength + WsFrame.HeaderLength, WsFrame.MaxFragment), token).ConfigureAwait(false);
                if (result.MessageType == WebSocketMessageType.Close)
                {
                    var status = socket.CloseStatus;
                    await SendCloseAsync(status is null or WebSocketCloseStatus.Empty ? null : (int)status.Value, socket.CloseStatusDescription).ConfigureAwait(false);
                    return;
                }

                await SendFragmentAsync(buffer, result.MessageType == WebSocketMessageType.Text ? WsFrame.Text : WsFrame.Binary, result.EndOfMessage, result.Count, token).ConfigureAwait(false);
            }
        }
        catch (Exception)
        {
            // The local side went away without a close: the other side is closed with 1001.
            await SendCloseAsync((int)WebSocketCloseStatus.EndpointUnavailable, "Going away").ConfigureAwait(false);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>The stream to the local WebSocket; acknowledges each payload once written.</summary>
    private async Task WriteLoopAsync(WebSocket socket)
    {
        var token = _cts.Token;
        var closeWritten = false;
        try
        {
            while (true)
            {
                var (read, item) = await _inbound.ReadAsync(token).ConfigureAwait(false);
                if (!read)
                {
                    if (_inbound.Ending == V3InboundEnd.Reset)
                    {
                        socket.Abort();
                        return;
                    }

                    break; // the end of the stream, or the socket lost
                }

                try
                {
                    if (item.Length >= WsFrame.HeaderLength && !closeWritten)
                    {
                        var payload = item.Memory;
                        var kind = payload.Span[0];
                        var last = (payload.Span[1] & WsFrame.Last) != 0;
                        if (kind == WsFrame.Close)
                        {
                            var (code, reason) = WsFrame.ReadClose(payload.Span);
                            var status = code is null ? WebSocketCloseStatus.Empty : WsFrame.IsSendable(code.Value) ? (WebSocketCloseStatus)code.Value : WebSocketCloseStatus.ProtocolError;
                            closeWritten = true;
                            if (socket.State is WebSocketState.Open or WebSocketState.CloseReceived)
                            {
                                await socket.CloseOutputAsync(status, status == WebSocketCloseStatus.Empty ? null : WebSocketClose.TruncateReason(reason), token).ConfigureAwait(false);
                            }
                        }
                        else if (kind is WsFrame.Text or WsFrame.Binary)
                        {
                            await socket.SendAsync(payload[WsFrame.HeaderLength..], kind == WsFrame.Text ? WebSocketMessageType.Text : WebSocketMessageType.Binary, last, token).ConfigureAwait(false);
                        }
                    }

                    await AcknowledgeAsync(item.Length).ConfigureAwait(false);
                    if (item.EndStream)
                    {
                        break;
                    }
                }
                finally
                {
                    _inbound.Release(item);
                }

                if (closeWritten && socket.State is WebSocketState.Closed or WebSocketState.Aborted)
                {
                    return;
                }
            }

            if (!closeWritten)
            {
                // The peer ended without a close: its WebSocket went away.
                await WebSocketClose.CloseOutputQuietlyAsync(socket, WebSocketCloseStatus.EndpointUnavailable, "Going away", CloseTimeout, Time).ConfigureAwait(false);
            }
        }
        catch (Exception)
        {
            socket.Abort();
        }
    }
}
