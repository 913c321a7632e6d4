using System.Buffers;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Logging;
using Putsh.Protocol.V3;
using Putsh.Router.Sockets;

namespace Putsh.Router.Proxy;

/// <summary>
/// One client request carried as a stream of a cranker_3.0 socket (§5.10, router side). The socket's receive loop
/// only queues what arrives; this exchange writes it to the client at the client's pace and acknowledges each
/// chunk after it was written (§5.6), so the connector pauses this stream alone when its client is slow.
/// </summary>
#pragma warning disable CA1001 // RunAsync gives back _inbound (DrainQueue) on every way out.
internal sealed class V3ProxyExchange(HttpContext context, RouterSocketV3 socket, string route, RouterOptions options, ILogger logger, bool webSocket = false, bool mayRetry = false) : IV3Stream
#pragma warning restore CA1001
{

    // What the connector sends for this stream, in order: the head, then the body; its end after them.
    private readonly V3Inbound _inbound = new(socket.FlowWindow, options.ResponseBudget);
    private readonly FlowWindow _window = new(socket.FlowWindow, (socket.HeadAcks & HeadAcks.Request) != 0);
    private V3HeadBuffer? _head;
    private V3HeadBuffer? _trailers;
    private long _received;
    private long _acked;
    private long _deferred;
    private readonly InboundBudget _budget = options.ResponseBudget;
    private int _id;
    private int _resetSent;
    private volatile bool _clientGone;
    private bool _headRefused;
    private volatile bool _headArrived;

    // Anything at all from the connector about this stream (a head piece, data, a reset, an acknowledgement).
    private volatile bool _heard;


    // Set by the receive loop when the connector answered a WebSocket request with 101: DATA goes there from then on.
    private volatile WsTunnel? _tunnel;

    /// <summary>The metrics' <c>error.type</c> once <see cref="RunAsync"/> returned <see cref="ExchangeResult.Done"/>; null for a success.</summary>
    public string? ErrorType { get; private set; }

    /// <summary>Request body bytes read from the client and sent on.</summary>
    public long BytesReceived { get; private set; }

    /// <summary>Response body bytes written to the client.</summary>
    public long BytesSent { get; private set; }

    /// <summary>Why the head could not be written, when <see cref="RunAsync"/> returned <see cref="ExchangeResult.Unsent"/>.</summary>
    public string? Unsent { get; private set; }

    /// <summary>Runs the exchange; see <see cref="ExchangeResult"/> for when the caller may try another socket.</summary>
    public async Task<ExchangeResult> RunAsync()
    {
        if (!socket.TryOpen(this, out _id))
        {
            return ExchangeResult.NotSent;
        }

        var request = context.Request;
        var hasBody = !webSocket && (context.Features.Get<IHttpRequestBodyDetectionFeature>()?.CanHaveBody ?? (request.ContentLength > 0));
        using var bodyCts = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted);
        using var abort = context.RequestAborted.Register(static s => ((V3ProxyExchange)s!).OnClientGone(), this);
        Task bodyTask = Task.CompletedTask;

        // Started before the head goes out, so that the clock runs from the moment the connector can have it.
        ITimer? headTimer = null;
        if (options.ResponseHeadTimeout is { } headTimeout)
        {
            headTimer = socket.Time.CreateTimer(static s => ((V3ProxyExchange)s!).OnHeadTimeout(), this, headTimeout, Timeout.InfiniteTimeSpan);
        }

        try
        {
            var head = RequestHeadBuilder.Build(context, options, v1Marker: null, webSocket, socket.Trailers);
            await socket.Sender.SendHeadAsync(_id, head, endStream: !hasBody && !webSocket, endStreamOnEveryPiece: true, _window, context.RequestAborted);
            if (hasBody)
            {
                bodyTask = PumpRequestBodyAsync(bodyCts.Token);
            }
        }
        catch (Exception ex) when (!_clientGone && !context.RequestAborted.IsCancellationRequested)
        {
            // The socket broke while we sent. With the head incomplete the connector cannot have acted on the request.
            if (mayRetry)
            {
                headTimer?.Dispose();
                socket.Forget(_id);
                _window.Release();
                DrainQueue();
                Unsent = ex.Message;
                return ExchangeResult.Unsent;
            }

            // Otherwise its receive loop reports the end to us as SocketEnded.
        }

        var (end, detail, started) = await WriteResponseAsync();
        headTimer?.Dispose();
        socket.Forget(_id);
        _window.Release();
        await bodyCts.CancelAsync();
        await bodyTask;
        DrainQueue();

        if (mayRetry && !hasBody && !webSocket && !started && !_heard && !_clientGone && !context.RequestAborted.IsCancellationRequested)
        {
            if (ProxyOutcome.ClosedAsIdle(end, socket.RemoteCloseStatus))
            {
                // The socket closed with a close frame and not a word about this stream: the connector closed it as
                // idle (our head crossed its close) and may send nothing more on it, so it never took the request.
                Unsent = $"the connector closed the socket ({(int?)socket.RemoteCloseStatus}) without taking the request";
                return ExchangeResult.Unsent;
            }

            if (end == SocketEnd.SocketLost && (socket.HeadAcks & HeadAcks.Request) != 0)
            {
                // Where heads are acknowledged on receipt (§5.3, §5.6), before the connector acts on them, a head never
                // acknowledged was never received: the connector died (or its path broke) with our head unread.
                Unsent = "the socket was lost before the connector acknowledged the request head";
                return ExchangeResult.Unsent;
            }
        }

        ErrorType = await ProxyOutcome.FinishAsync(context, logger, route, end, detail, started, _clientGone);
        return ExchangeResult.Done;
    }

    /// <summary>Body bytes written to the client's output before it is flushed even though more are queued.</summary>
    private const int MaxUnflushed = 64 * 1024;

    /// <summary>Writes what the connector sends, in order, until the response ends one way or another.</summary>
    private async Task<(SocketEnd End, string? Detail, bool Started)> WriteResponseAsync()
    {
        var started = false;
        var headSeen = false;
        long? expectedLength = null;
        long written = 0;
        var unflushed = 0;
        var headWritten = false;
        var response = context.Response;
        var inbound = _inbound;
        while (await inbound.ReadAsync() is (true, var item))
        {

            switch (item.Head is not null)
            {
                case true when headSeen && socket.Trailers:
                    // A trailer section (§12.8): the response ends with it.
                    var trailers = new List<KeyValuePair<string, string>>();
                    TrailersExtension.Read(item.Head!.Text, trailers);
                    inbound.Release(item);
                    if (expectedLength is { } declared && written < declared)
                    {
                        await ResetAsync(1, "Body length does not match content-length");
                        return (SocketEnd.ProtocolError, $"the response ended {declared - written} bytes short of its content-length", started);
                    }

                    WriteTrailers(response, trailers);
                    return (SocketEnd.Completed, null, started);
                case true:
                    var headers = new List<KeyValuePair<string, string>>();
                    var parsed = Putsh.Protocol.Headers.HeadParser.TryParseResponse(item.Head!.Text, out var status, headers);
                    inbound.Release(item);
                    if (!parsed)
                    {
                        await ResetAsync(1, "Bad response head");
                        return (SocketEnd.ProtocolError, "unparseable response head", false);
                    }

                    if (status == 101 && _tunnel is { } tunnel)
                    {
                        return await RunWebSocketAsync(tunnel, headers);
                    }

                    if (status < 200 || headSeen)
                    {
                        // A 1xx as the final answer (101 included, unless this is a client WebSocket) would switch the
                        // client's connection to whatever the connector sends next; a second head is no better.
                        await ResetAsync(1, headSeen ? "Second response head" : "Informational status not allowed");
                        return (SocketEnd.ProtocolError, headSeen ? "a second response head" : $"status {status} is not a final response", started);
                    }

                    headSeen = true;

                    if (webSocket)
                    {
                        // Refused: an ordinary response, and the request (which has no body) ends here.
                        _ = SendEndQuietlyAsync();
                    }

                    try
                    {
                        ResponseHeaders.Apply(response, status, headers);
                        // Bodies a response cannot have are Kestrel's to refuse; the others must match their length.
                        expectedLength = HttpMethods.IsHead(context.Request.Method) || status is 204 or 304 ? null : response.ContentLength;
                        if (!item.EndStream && !inbound.HasQueued)
                        {
                            // Nothing follows yet: the client gets the head now. Otherwise it leaves with the first
                            // body bytes (or the end) in one write to the client.
                            await response.StartAsync(context.RequestAborted);
                            headWritten = true;
                        }

                        // Committed: whatever happens now, the client cannot be given another status.
                        started = true;
                    }
                    catch (Exception ex) when (!context.RequestAborted.IsCancellationRequested)
                    {
                        response.Headers.Clear();
                        await ResetAsync(1, "Bad response head");
                        return (SocketEnd.ProtocolError, "response head rejected: " + ex.Message, false);
                    }
                    catch (Exception)
                    {
                        return (SocketEnd.ClosedByRouter, null, started);
                    }

                    if (item.EndStream)
                    {
                        return expectedLength is > 0
                            ? (SocketEnd.ProtocolError, $"the response ended {expectedLength} bytes short of its content-length", true)
                            : (SocketEnd.Completed, null, true);
                    }

                    break;
                case false:
                    if (!headSeen)
                    {
                        inbound.Release(item);
                        await ResetAsync(1, "DATA before HEADER");
                        return (SocketEnd.ProtocolError, "body data before the response head", false);
                    }

                    written += item.Length;
                    BytesSent = written;
                    if (expectedLength is { } length && (written > length || (item.EndStream && written < length)))
                    {
                        inbound.Release(item);
                        await ResetAsync(1, "Body length does not match content-length");
                        return (SocketEnd.ProtocolError, $"the response body ({(item.EndStream ? "" : "at least ")}{written} bytes) does not match its content-length ({length})", started);
                    }

                    // Copied into Kestrel's output (BodyWriter: no stream in between); flushed, which sends and waits
                    // while the client is slow, once nothing more is queued, a block's worth is waiting, an
                    // acknowledgement is due (never before: what is acknowledged must have left), or the body ends:
                    // a burst of DATA is one write to the client.
                    var moreQueued = inbound.HasQueued;
                    var consumed = item.EndStream ? 0 : inbound.OnConsumed(item.Length);
                    try
                    {
                        if (item.Length > 0)
                        {
                            response.BodyWriter.Write(item.Span);
                            unflushed += item.Length;
                        }

                        // The end too: Kestrel does not flush a Content-Length body once its headers have gone.
                        if (item.EndStream || !moreQueued || consumed > 0 || unflushed >= MaxUnflushed)
                        {
                            unflushed = 0;
                            await response.BodyWriter.FlushAsync(context.RequestAborted);
                        }

                        headWritten = true;
                    }
                    catch (Exception ex) when (!headWritten && ex is InvalidOperationException && !context.RequestAborted.IsCancellationRequested)
                    {
                        // The head went out with the first body bytes, and Kestrel refused it.
                        inbound.Release(item);
                        response.Headers.Clear();
                        await ResetAsync(1, "Bad response head");
                        return (SocketEnd.ProtocolError, "response head rejected: " + ex.Message, false);
                    }
                    catch (Exception)
                    {
                        inbound.Release(item);
                        OnClientGone();
                        return (SocketEnd.ClosedByRouter, null, started);
                    }

                    inbound.Release(item);

                    // Acknowledged once written to the client (§5.6), batched if a larger window was agreed. Not the
                    // last one: its sender has already forgotten the stream (§5.7), so that would only be discarded.
                    if (consumed > 0 && Throttle(consumed) is var ack and > 0)
                    {
                        try
                        {
                            await socket.Sender.SendWindowUpdateAsync(_id, ack, CancellationToken.None);
                        }
                        catch (Exception)
                        {
                            // The socket broke: its receive loop tells us.
                        }
                    }

                    if (item.EndStream)
                    {
                        return (SocketEnd.Completed, null, started);
                    }

                    break;
            }
        }

        return inbound.Ending switch
        {
            V3InboundEnd.Reset => (SocketEnd.ConnectorError, $"RST {inbound.EndCode} {inbound.EndText}", started),
            V3InboundEnd.SessionEnded => ((SocketEnd)inbound.EndCode, inbound.EndText, started),
            V3InboundEnd.Abandoned => (SocketEnd.ClosedByRouter, null, started),
            _ => (SocketEnd.SocketLost, "stream ended without a response", started),
        };
    }

    /// <summary>
    /// Gives the client the response trailers: HTTP/2 and HTTP/3 clients get them after the body; HTTP/1.1 has no
    /// way to send them here (Kestrel writes none after a chunked body), so they are dropped, as HTTP/1.1 proxies do.
    /// </summary>
    private void WriteTrailers(HttpResponse response, List<KeyValuePair<string, string>> trailers)
    {
        if (trailers.Count == 0)
        {
            return;
        }

        if (!response.SupportsTrailers())
        {
            RouterLog.TrailersDropped(logger, route, trailers.Count, context.Request.Protocol);
            return;
        }

        foreach (var (name, value) in trailers)
        {
            response.AppendTrailer(name, value);
        }
    }

    /// <summary>The connector accepted the WebSocket: accept the client's and relay until both are closed.</summary>
    private async Task<(SocketEnd End, string? Detail, bool Started)> RunWebSocketAsync(WsTunnel tunnel, List<KeyValuePair<string, string>> headers)
    {
        string? subProtocol = null;
        foreach (var (name, value) in headers)
        {
            if (name.Equals("sec-websocket-protocol", StringComparison.OrdinalIgnoreCase))
            {
                subProtocol = value.Trim();
            }
        }

        Putsh.Protocol.WebSockets.PutshWebSocket client;
        try
        {
            client = await Registration.WsAccept.AcceptClientAsync(context, string.IsNullOrEmpty(subProtocol) ? null : subProtocol, socket.Time);
        }
        catch (Exception ex)
        {
            await tunnel.ResetAsync(1, "Client early closed");
            return context.RequestAborted.IsCancellationRequested
                ? (SocketEnd.ClosedByRouter, null, false)
                : (SocketEnd.ProtocolError, "WebSocket accept failed: " + ex.Message, false);
        }

        await using (client)
        {
            await tunnel.RunAsync(client);
        }

        return (SocketEnd.Completed, null, true);
    }

    private async Task SendEndQuietlyAsync()
    {
        try
        {
            await socket.Sender.SendEndAsync(_id, CancellationToken.None);
        }
        catch (Exception)
        {
            // The socket broke: its receive loop tells us.
        }
    }

    private async Task PumpRequestBodyAsync(CancellationToken cancellationToken)
    {
        try
        {
            // Read more from the client only while the connector keeps up (§5.6).
            // With the trailers extension, a body of unknown length (chunked, or HTTP/2 and later) may end with trailers.
            var trailers = socket.Trailers && context.Request.ContentLength is null ? context.Features.Get<IHttpRequestTrailersFeature>() : null;
            BytesReceived = await socket.Sender.SendBodyAsync(context.Request.Body, context.Request.ContentLength, options.BodyBufferSize, _id, _window, cancellationToken,
                trailers is null ? null : () => RequestTrailersText(trailers));
        }
        catch (Exception) when (cancellationToken.IsCancellationRequested)
        {
        }
        catch (V3SendFailedException)
        {
            // The socket broke: its receive loop reports the end to us as SocketEnded.
        }
        catch (Exception)
        {
            // Reading the client's body failed: the stream cannot go on (§5.5).
            await ResetAsync(1, "Client request body read error");
            _clientGone = true;
            _inbound.End(V3InboundEnd.Abandoned);
        }
    }

    /// <summary>The client's request trailers as a trailer section's text (§12.8), or null when it sent none.</summary>
    private static string? RequestTrailersText(IHttpRequestTrailersFeature feature)
    {
        if (!feature.Available || feature.Trailers.Count == 0)
        {
            return null;
        }

        var text = new System.Text.StringBuilder();
        foreach (var (name, values) in feature.Trailers)
        {
            foreach (var value in values)
            {
                TrailersExtension.TryAppend(text, name, value);
            }
        }

        return text.Length == 0 ? null : text.ToString();
    }

    private void OnHeadTimeout()
    {
        if (_headArrived)
        {
            return;
        }

        _ = ResetAsync(1, "No response head in time");
        Ended(SocketEnd.TimedOut, $"no response head within {options.ResponseHeadTimeout}");
    }

    private void OnClientGone()
    {
        if (_tunnel is not null)
        {
            return; // the tunnel sees its WebSocket go and closes the other side with 1001
        }

        _clientGone = true;
        _ = ResetAsync(1, "Client early closed");
        _inbound.End(V3InboundEnd.Abandoned);
    }

    private async Task ResetAsync(int code, string message)
    {
        if (Interlocked.Exchange(ref _resetSent, 1) != 0)
        {
            return;
        }

        socket.Forget(_id);
        try
        {
            await socket.Sender.SendRstAsync(_id, code, message, CancellationToken.None);
        }
        catch (Exception)
        {
            // The socket is gone; so is the stream.
        }
    }

    public void OnHeadPiece(ReadOnlySpan<byte> utf8Piece, byte flags)
    {
        _heard = true;
        // Each piece is decoded on its own into a pooled character buffer (a sender never cuts a character in two,
        // §5.3); the head is read in place from it, so receiving one allocates no string.
        if (_headRefused)
        {
            return;
        }

        if (_headArrived)
        {
            OnTrailerPiece(utf8Piece, flags);
            return;
        }

        _head ??= new V3HeadBuffer(Math.Min(Math.Max(512, utf8Piece.Length), options.MaxResponseHeadSize));
        if (!_head.TryAppend(utf8Piece, options.MaxResponseHeadSize))
        {
            // Pieces that never end would grow without bound: reset the stream and answer 502.
            _headRefused = true;
            _head.Dispose();
            _head = null;
            _ = ResetAsync(1, "Response head too large");
            Ended(SocketEnd.ProtocolError, $"response head longer than {options.MaxResponseHeadSize} characters");
            return;
        }

        if ((flags & V3Flags.EndHeader) != 0)
        {
            var head = _head;
            _head = null;
            OnHead(head, flags);
        }
    }

    /// <summary>
    /// A HEADER after the response head: with the trailers extension, a piece of the trailer section that ends the
    /// response (§12.8), held to the response head's size limit; without it, queued as the second head it is, which
    /// ends the exchange as a protocol error.
    /// </summary>
    private void OnTrailerPiece(ReadOnlySpan<byte> utf8Piece, byte flags)
    {
        _trailers ??= new V3HeadBuffer(Math.Min(Math.Max(256, utf8Piece.Length), options.MaxResponseHeadSize));
        if (!_trailers.TryAppend(utf8Piece, options.MaxResponseHeadSize))
        {
            _headRefused = true;
            _trailers.Dispose();
            _trailers = null;
            _ = ResetAsync(1, "Response trailers too large");
            Ended(SocketEnd.ProtocolError, $"response trailers longer than {options.MaxResponseHeadSize} characters");
            return;
        }

        if ((flags & V3Flags.EndHeader) != 0 || !socket.Trailers)
        {
            var trailers = _trailers;
            _trailers = null;
            _inbound.EnqueueHead(trailers, endStream: true);
        }
    }

    private void OnHead(V3HeadBuffer head, byte flags)
    {
        _headArrived = true;
        if (webSocket && _tunnel is null && Putsh.Protocol.Headers.HeadParser.TryReadResponse(head.Text, out var view) && view.Status == 101)
        {
            // Made here, on the receive loop, so that no DATA after the 101 can miss it.
            _tunnel = new WsTunnel(socket.Sender, _id, _window) { Time = socket.Time };
        }

        // END_STREAM counts only on the final piece: we are lenient where mu is not (§5.3). The queue owns the buffer now.
        _inbound.EnqueueHead(head, (flags & V3Flags.EndStream) != 0);
    }

    public void OnData(V3Payload payload, bool endStream)
    {
        _heard = true;
        if (_tunnel is { } tunnel)
        {
            if (!tunnel.OnData(payload, endStream))
            {
                socket.Forget(_id);
                _ = tunnel.ResetAsync(1, "Flow control window exceeded").AsTask();
            }

            return;
        }

        Interlocked.Add(ref _received, payload.Length);

        // The payload's buffer is taken from the receive loop, not copied: it is returned once written to the client.
        if (!_inbound.TryEnqueue(payload, endStream))
        {
            _ = ResetAsync(1, "Flow control window exceeded");
            Ended(SocketEnd.ProtocolError, "connector ignored flow control");
        }
    }

    /// <summary>
    /// Of <paramref name="consumed"/> bytes written to the client, how many to acknowledge now. Normally all. While
    /// the router holds more for its clients than its budget, a stream with a flow window above 64 KiB acknowledges
    /// only as much as keeps what it holds plus what the connector may still send within 64 KiB; the rest waits
    /// until the client has taken more, or the router holds less.
    /// </summary>
    private int Throttle(int consumed)
    {
        var window = socket.FlowWindow;
        _deferred += consumed;
        long allowed = int.MaxValue;
        if (window > V3Frame.HighWatermark && _budget.IsOver)
        {
            var credit = window - (Interlocked.Read(ref _received) - _acked);
            allowed = Math.Max(0, V3Frame.HighWatermark - _inbound.Queued - credit);
        }

        var ack = (int)Math.Min(_deferred, allowed);
        _deferred -= ack;
        _acked += ack;
        return ack;
    }

    public void OnReset(int code, string message)
    {
        _heard = true;
        _tunnel?.OnReset();
        _inbound.End(V3InboundEnd.Reset, code, message);
    }

    public void OnWindowUpdate(int consumed)
    {
        _heard = true;
        _window.OnAcknowledged(consumed);
    }

    public void OnSessionEnded(V3SessionEnd end, string? detail)
    {
        _tunnel?.OnLost();
        Ended(RouterSocketV3.ToSocketEnd(end), detail);
    }

    /// <summary>The stream ends as <paramref name="end"/> (a connector that sends far beyond its window among others), after whatever is queued.</summary>
    private void Ended(SocketEnd end, string? detail) => _inbound.End(V3InboundEnd.SessionEnded, (int)end, detail);

    private void DrainQueue()
    {
        _inbound.Dispose();
        Interlocked.Exchange(ref _trailers, null)?.Dispose();
    }
}
