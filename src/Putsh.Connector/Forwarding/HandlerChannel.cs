using System.Net.WebSockets;
using Microsoft.Extensions.Logging;
using Putsh.Protocol.Channels;
using Putsh.Protocol.Headers;

namespace Putsh.Connector.Forwarding;

/// <summary>
/// The channel an in-process handler answers on: its sends become the response head and body on the router socket
/// (either protocol version, through <see cref="IResponseWriter"/>).
/// </summary>
internal sealed class HandlerChannel(IResponseWriter writer) : ChannelCore(isWebSocket: false)
{
    private volatile bool _failed;

    /// <summary>The status of the response head once it was sent; null before.</summary>
    public int? Status { get; private set; }

    /// <summary>True when the handler threw.</summary>
    public bool HandlerThrew { get; private set; }

    protected override async ValueTask WriteAsync(ChannelData data, bool first, CancellationToken cancellationToken)
    {
        if (first)
        {
            // A body-only first send means 200; status and headers after the first send are ignored.
            var head = HeadText.ForResponse(data.Status ?? 200, null);
            if (data.Headers is { } headers)
            {
                // The rules of a backend's response (§2.2): hop-by-hop and Connection-named fields stay here.
                var connection = HeaderRules.ConnectionOf(headers);
                for (var i = 0; i < headers.Count; i++)
                {
                    var (name, value) = headers[i];
                    if (!ResponseHeaderRules.IsDroppedByConnector(name, connection))
                    {
                        head.AddLowercaseName(name, value);
                    }
                }
            }

            await writer.WriteHeadAsync(head.ToResponseString(), cancellationToken).ConfigureAwait(false);
            Status = data.Status ?? 200;
        }

        if (!data.Body.IsEmpty)
        {
            await writer.WriteBodyAsync(data.Body, cancellationToken).ConfigureAwait(false);
        }
    }

    protected override async ValueTask CompleteAsync(bool graceful, bool anythingSent)
    {
        if (graceful && !_failed)
        {
            if (!anythingSent)
            {
                // Closed without a word: an empty 200.
                await writer.WriteHeadAsync("HTTP/1.1 200 OK\ncontent-length:0\n", CancellationToken.None).ConfigureAwait(false);
                Status = 200;
            }

            await writer.EndAsync().ConfigureAwait(false);
        }
        else
        {
            await writer.FailAsync(_failed ? "handler failed" : "response abandoned").ConfigureAwait(false);
        }
    }

    /// <summary>The router side went away (client gone, reset, socket lost).</summary>
    public void PeerGone(WebSocketCloseStatus? status) => ClosedByPeer(status switch
    {
        WebSocketCloseStatus.NormalClosure => ChannelCloseStatus.Normal,
        WebSocketCloseStatus.EndpointUnavailable => ChannelCloseStatus.GoingAway,
        WebSocketCloseStatus.ProtocolError => ChannelCloseStatus.ProtocolError,
        WebSocketCloseStatus.InvalidMessageType => ChannelCloseStatus.Unsupported,
        null => ChannelCloseStatus.ClientClose,
        _ => ChannelCloseStatus.Unknown,
    });

    /// <summary>Runs the handler; when it returns the response is complete; if it throws, the client sees a 500 or an abort.</summary>
    public async Task RunAsync(Func<ChannelRequest, IChannel, Task> handler, ChannelRequest request, ILogger logger)
    {
        try
        {
            await handler(request, this).ConfigureAwait(false);
            Close();
        }
        catch (Exception ex)
        {
            HandlerThrew = true;
            ConnectorLog.TargetFailed(logger, request.Method, request.Target, "handler threw " + ex.GetType().Name + ": " + ex.Message);
            if (HasSent || !Send(ChannelData.Response(500, [new("content-type", "text/plain; charset=utf-8")], "Internal Server Error")))
            {
                // Part of a response is out: the client must see a failure, not a clean end.
                _failed = true;
            }

            Close();
        }

        await Completion.ConfigureAwait(false);
    }
}

/// <summary>How a handler's response reaches the router, per protocol version.</summary>
internal interface IResponseWriter
{
    ValueTask WriteHeadAsync(string head, CancellationToken cancellationToken);

    ValueTask WriteBodyAsync(ReadOnlyMemory<byte> body, CancellationToken cancellationToken);

    /// <summary>The response is complete (v1: close 1000; v3: empty DATA with END_STREAM).</summary>
    ValueTask EndAsync();

    /// <summary>The response failed (v1: close 1011; v3: RST 1011).</summary>
    ValueTask FailAsync(string reason);
}
