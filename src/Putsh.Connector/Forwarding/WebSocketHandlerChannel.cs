using System.Buffers;
using Microsoft.Extensions.Logging;
using Putsh.Protocol.Channels;
using Putsh.Protocol.V3;

namespace Putsh.Connector.Forwarding;

/// <summary>
/// The channel an in-process handler gets for a client WebSocket (putsh websocket extension): the client's messages
/// arrive through <see cref="IChannel.OnReceive"/>, each send is one message, <see cref="IChannel.Close"/> closes with
/// 1000. The channel stays open after the handler's task completes, until either side closes it.
/// </summary>
internal sealed class WebSocketHandlerChannel(WsTunnel tunnel) : ChannelCore(isWebSocket: true)
{
    /// <summary>A message from the client larger than this closes the WebSocket with 1009.</summary>
    private const int MaxMessageBytes = 64 * 1024 * 1024;

    private readonly TaskCompletionSource _closed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _peerCloseSeen = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private volatile bool _peerClosed;
    private volatile bool _failed;

    protected override ValueTask WriteAsync(ChannelData data, bool first, CancellationToken cancellationToken) =>
        tunnel.SendMessageAsync(data.IsText, data.Body, cancellationToken);

    protected override async ValueTask CompleteAsync(bool graceful, bool anythingSent)
    {
        if (!_peerClosed)
        {
            var normal = graceful && !_failed;
            await tunnel.SendCloseAsync(normal ? 1000 : 1011, normal ? "" : "handler failed").ConfigureAwait(false);
            try
            {
                // The client's close echo completes the handshake.
                await _peerCloseSeen.Task.WaitAsync(WsTunnel.CloseTimeout, tunnel.Time).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
            }
        }

        await tunnel.SendEndAsync().ConfigureAwait(false);
    }

    /// <summary>Runs the handler and the receive loop; completes once the channel is closed and the stream ended.</summary>
    public async Task RunAsync(Func<ChannelRequest, IChannel, Task> handler, ChannelRequest request, ILogger logger)
    {
        OnClose(_ => _closed.TrySetResult());
        var receive = Task.Run(ReceiveLoopAsync);
        try
        {
            await handler(request, this).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            ConnectorLog.TargetFailed(logger, request.Method, request.Target, "handler threw " + ex.GetType().Name + ": " + ex.Message);
            _failed = true;
            Close();
        }

        await _closed.Task.ConfigureAwait(false);
        await receive.ConfigureAwait(false);
    }

    private void PeerClosed(ChannelCloseStatus status)
    {
        _peerClosed = true;
        _peerCloseSeen.TrySetResult();
        ClosedByPeer(status);
    }

    private async Task ReceiveLoopAsync()
    {
        var message = new ArrayBufferWriter<byte>();
        var text = false;
        while (true)
        {
            var inbound = tunnel.Inbound;
            V3Chunk item;
            try
            {
                (var read, item) = await inbound.ReadAsync().ConfigureAwait(false);
                if (!read)
                {
                    // Reset: nothing more may be sent; socket lost: the client is as good as gone.
                    PeerClosed(inbound.Ending == V3InboundEnd.SessionEnded ? ChannelCloseStatus.GoingAway : ChannelCloseStatus.ClientClose);
                    return;
                }
            }
            catch (Exception)
            {
                PeerClosed(ChannelCloseStatus.ClientClose);
                return;
            }

            try
            {
                if (item.Length >= WsFrame.HeaderLength)
                {
                    var payload = item.Memory;
                    var kind = payload.Span[0];
                    if (kind == WsFrame.Close)
                    {
                        var (code, reason) = WsFrame.ReadClose(payload.Span);
                        if (!tunnel.CloseSent)
                        {
                            await tunnel.SendCloseAsync(code, reason).ConfigureAwait(false); // the echo
                        }

                        await tunnel.AcknowledgeAsync(item.Length).ConfigureAwait(false);
                        PeerClosed(Map(code));
                        return;
                    }

                    if (kind is WsFrame.Text or WsFrame.Binary)
                    {
                        var fragment = payload[WsFrame.HeaderLength..];
                        if (message.WrittenCount + fragment.Length > MaxMessageBytes)
                        {
                            await tunnel.SendCloseAsync(1009, "Message too big").ConfigureAwait(false);
                            PeerClosed(ChannelCloseStatus.Unsupported);
                            return;
                        }

                        if (message.WrittenCount == 0)
                        {
                            text = kind == WsFrame.Text;
                        }

                        message.Write(fragment.Span);
                        if ((payload.Span[1] & WsFrame.Last) != 0)
                        {
                            try
                            {
                                Deliver(text ? ChannelMessage.Utf8Text(message.WrittenMemory) : ChannelMessage.Binary(message.WrittenMemory));
                            }
                            catch (Exception)
                            {
                                // A receive handler threw: the WebSocket closes with 1011; the client's echo still arrives here.
                                _failed = true;
                                Close();
                            }

                            message.ResetWrittenCount();
                        }
                    }
                }

                await tunnel.AcknowledgeAsync(item.Length).ConfigureAwait(false);
                if (item.EndStream)
                {
                    // Ended without a close: the client went away.
                    PeerClosed(ChannelCloseStatus.GoingAway);
                    return;
                }
            }
            finally
            {
                inbound.Release(item);
            }
        }
    }

    /// <summary>The client's close code as a <see cref="ChannelCloseStatus"/>.</summary>
    internal static ChannelCloseStatus Map(int? code) => code switch
    {
        1000 => ChannelCloseStatus.Normal,
        1001 => ChannelCloseStatus.GoingAway,
        1002 => ChannelCloseStatus.ProtocolError,
        1003 => ChannelCloseStatus.Unsupported,
        null => ChannelCloseStatus.ClientClose,
        _ => ChannelCloseStatus.Unknown,
    };
}
