using System.Net.WebSockets;
using System.Text;
using Microsoft.Extensions.Logging;
using Putsh.Connector.Forwarding;
using Putsh.Protocol;
using Putsh.Protocol.Headers;
using Putsh.Protocol.V3;

namespace Putsh.Connector.Sockets;

/// <summary>
/// One long-lived cranker_3.0 socket to a router (§5.10, connector side): each stream is a request to the target.
/// The receive loop never waits for a target: request body chunks are queued on their stream and acknowledged once
/// the target has taken them, so a slow target pauses only its own stream.
/// </summary>
internal sealed class ConnectorSocketV3 : V3Session, IConnectorSocket
{
    private readonly TargetClient _target;
    private readonly ConnectorOptions _options;
    private readonly ILogger _logger;
    private readonly string _routerName;
    private readonly ConnectorMetrics _metrics;
    private readonly bool _webSockets;
    private readonly Pool.TcpService? _tcp;

    public ConnectorSocketV3(WebSocket socket, TargetClient target, ConnectorOptions options, TimeProvider time, ILogger logger, string routerName, ConnectorMetrics metrics, bool webSockets = false, int flowWindow = 0, HeadAcks headAcks = HeadAcks.Both, bool trailers = false, Pool.TcpService? tcp = null)
        : base(socket, V3Role.Connector, new V3SessionSettings
        {
            FlowWindow = flowWindow > 0 ? flowWindow : V3Frame.HighWatermark,
            HeadAcks = headAcks,
            Trailers = trailers,
            MaxMessage = options.MaxRouterMessageSize,
            MaxStrays = options.MaxStrayMessages,
        }, time)
    {
        _metrics = metrics;
        _tcp = tcp;
        _webSockets = webSockets;
        _target = target;
        _options = options;
        _logger = logger;
        _routerName = routerName;
    }

    public event Action<IConnectorSocket>? Consumed
    {
        add { }
        remove { }
    }

    public bool WasConsumed => false;

    public bool IsBusy => InFlight > 0;

    /// <summary>A HEADER for an unknown id opens a stream (§5.2): a request to the target.</summary>
    protected override IV3Stream? OpenInbound(int id) =>
        _tcp is { } tcp ? new TcpTargetStream(this, id, tcp, _options, _logger) : new TargetStream(this, id);

    /// <summary>An upgrade to websocket (the putsh websocket extension, docs/websocket-extension.md).</summary>
    private static bool IsWebSocketUpgrade(ParsedRequestHead head)
    {
        if (!head.Method.Equals("GET", StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }

        foreach (var (name, value) in head.Headers)
        {
            if (name.Equals("upgrade", StringComparison.OrdinalIgnoreCase) && Putsh.Protocol.WebSockets.WsHandshake.HasToken(value, "websocket"))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Starts the request whose head is complete, off the receive loop where it may wait.</summary>
    private void Start(TargetStream stream, ParsedRequestHead head, bool endStream)
    {
        var start = Time.GetTimestamp();
        // The body queue must exist before the next message (DATA) is read, so it is made here.
        if (_webSockets && !endStream && IsWebSocketUpgrade(head))
        {
            stream.PrepareTunnel();
        }
        else
        {
            stream.PrepareBody(endStream);
        }

        if (_options.Handler is null && !stream.IsTunnel)
        {
            // A backend call runs here until its first wait, which is short: parsing the head and handing
            // the request to the connection pool. It saves a thread hop per request.
            _ = stream.RunAsync(head, start);
        }
        else
        {
            _ = Task.Run(() => stream.RunAsync(head, start));
        }
    }

    /// <summary>One request: head pieces gathered, then the target call, the request body fed in, the response sent back.</summary>
#pragma warning disable CA1001 // RunAsync owns both: _cts is disposed when it ends, _body by the request content.
    private sealed class TargetStream(ConnectorSocketV3 owner, int id) : IV3Stream
#pragma warning restore CA1001
    {
        private readonly CancellationTokenSource _cts = new();
        private V3HeadBuffer? _head;
        private bool _headDone;
        private V3InboundStream? _body;
        private WsTunnel? _tunnel;
        private int? _status;

        public int Id { get; } = id;

        public FlowWindow Window { get; } = new(owner.FlowWindow, (owner.HeadAcks & HeadAcks.Response) != 0);

        public void OnHeadPiece(ReadOnlySpan<byte> utf8Piece, byte flags)
        {
            if (_headDone)
            {
                OnTrailerPiece(flags);
                return;
            }

            // Each piece is decoded straight into one pooled character buffer (§5.3: pieces never split a character),
            // and the head is parsed once, from there, at END_HEADER.
            _head ??= new V3HeadBuffer(Math.Max(256, utf8Piece.Length));
            if (!_head.TryAppend(utf8Piece, owner._options.MaxRequestHeadSize))
            {
                Refuse($"request head longer than {owner._options.MaxRequestHeadSize} characters (MaxRequestHeadSize)");
                return;
            }

            if ((flags & V3Flags.EndHeader) == 0)
            {
                return;
            }

            if (!HeadParser.TryParseRequest(_head.Text, expectMarker: false, out var head, out var error))
            {
                Refuse("bad request head: " + error);
                return;
            }

            ReleaseHead();
            owner.Start(this, head!, (flags & V3Flags.EndStream) != 0);
        }

        /// <summary>
        /// A HEADER after the request head. With the trailers extension it is the request's trailer section (§12.8),
        /// whose last piece ends the body; the backend call has no way to send request trailers (HttpClient writes
        /// none), so their text is not kept. Without the extension it is ignored.
        /// </summary>
        private void OnTrailerPiece(byte flags)
        {
            if (owner.Trailers && (flags & V3Flags.EndStream) != 0)
            {
                _body?.Inbound.End(V3InboundEnd.EndStream);
            }
        }

        /// <summary>A head that cannot be served resets its stream (1011, §5.5) without reaching the target.</summary>
        private void Refuse(string reason)
        {
            ReleaseHead();
            ConnectorLog.BadRequestHead(owner._logger, owner._routerName, reason);
            owner.Sender.QueueRst(Id, 1011, reason);
            owner.Forget(Id);
        }

        private void ReleaseHead()
        {
            _headDone = true;
            _head?.Dispose();
            _head = null;
        }

        public void OnReset(int code, string message)
        {
            ConnectorLog.RouterClosed(owner._logger, "stream", Id.ToString(System.Globalization.CultureInfo.InvariantCulture), code);
            Cancel();
        }

        public void OnWindowUpdate(int consumed) => Window.OnAcknowledged(consumed);

        public void OnSessionEnded(V3SessionEnd end, string? detail) => Cancel(lost: true);

        public bool IsTunnel => _tunnel is not null;

        public void OnData(V3Payload payload, bool endStream)
        {
            if (_tunnel is { } tunnel)
            {
                if (!tunnel.OnData(payload, endStream))
                {
                    _ = tunnel.ResetAsync(1011, "flow control window exceeded").AsTask();
                    owner.Forget(Id);
                }

                return;
            }

            var body = _body;
            if (body is null)
            {
                return; // no body expected (or the call already failed): ignored
            }

            if (!body.Inbound.TryEnqueue(payload, endStream))
            {
                // The router sent far past its window: reset rather than buffer without bound.
                owner.Sender.QueueRst(Id, 1011, "request body flow control window exceeded");
                Cancel();
                owner.Forget(Id);
            }
        }

        /// <summary>Cancels the stream: reset by the router, or its socket <paramref name="lost"/>.</summary>
        public void Cancel(bool lost = false)
        {
            if (!_headDone)
            {
                ReleaseHead(); // reset or lost in the middle of its head
            }

            if (lost)
            {
                _tunnel?.OnLost();
            }
            else
            {
                _tunnel?.OnReset();
            }

            Window.Release();
            _body?.Inbound.End(lost ? V3InboundEnd.SessionEnded : V3InboundEnd.Reset);
            try
            {
                _cts.Cancel();
            }
            catch (ObjectDisposedException)
            {
            }
        }

        /// <summary>Creates the request body queue unless the head ended the stream. Call before reading on.</summary>
        public void PrepareBody(bool endStream)
        {
            if (!endStream)
            {
                _body = new V3InboundStream(new V3Inbound(owner.FlowWindow), n => owner.Sender.QueueWindowUpdate(Id, n));
            }
        }

        /// <summary>The stream carries a WebSocket: DATA goes to a tunnel instead of a request body. Call before reading on.</summary>
        public void PrepareTunnel() => _tunnel = new WsTunnel(owner.Sender, Id, Window) { Time = owner.Time };

        /// <summary>Serves the request whose head arrived at <paramref name="start"/> (a timestamp).</summary>
        public async Task RunAsync(ParsedRequestHead head, long start)
        {
            // Each way of serving ends the request in its finally block (one state machine per request, not two).
            var sender = owner.Sender;
            var token = _cts.Token;
            var active = owner._metrics.RequestStarted(CrankerProtocol.V3);
            string? failure = null;
            if (_tunnel is { } tunnel)
            {
                try
                {
                    await RunWebSocketAsync(tunnel, head, token).ConfigureAwait(false);
                }
                catch (Exception) when (token.IsCancellationRequested)
                {
                    failure = ConnectorMetrics.ResetByRouter;
                }
                catch (Exception ex)
                {
                    failure = ConnectorMetrics.ErrorType(ex);
                    ConnectorLog.TargetFailed(owner._logger, head.Method, head.Target, Putsh.Protocol.Diagnostics.ExceptionText.Describe(ex));
                    await tunnel.ResetAsync(1011, "target request failed: " + ex.Message).ConfigureAwait(false);
                }
                finally
                {
                    owner.Forget(Id);
                    _cts.Dispose();
                    RequestEnded(active, start, head, failure);
                }

                return;
            }

            if (owner._options.Handler is { } handler)
            {
                var channel = new HandlerChannel(new ResponseWriter(owner.Sender, Id, Window));
                try
                {
                    using var gone = token.Register(() => channel.PeerGone(null));
                    await channel.RunAsync(handler, new ChannelRequest(head.Method, head.Target, head.Headers, _body ?? Stream.Null), owner._logger).ConfigureAwait(false);
                    failure = channel.HandlerThrew ? ConnectorMetrics.HandlerError : token.IsCancellationRequested ? ConnectorMetrics.ResetByRouter : null;
                }
                catch (Exception ex)
                {
                    failure = ex.GetType().FullName;
                    throw;
                }
                finally
                {
                    _body?.Dispose();
                    owner.Forget(Id);
                    _cts.Dispose();
                    _status = channel.Status;
                    RequestEnded(active, start, head, failure);
                }

                return;
            }

            HttpResponseMessage? response = null;
            var stage = "target request failed: ";
            var backendStart = -1L;
            using var span = ConnectorTracing.Start(head, CrankerProtocol.V3);
            try
            {
                using var request = owner._target.CreateRequest(head, _body is null ? null : new StreamingRequestContent(_body), owner.Trailers);
                backendStart = owner.Time.GetTimestamp();
                response = await owner._target.SendAsync(request, token).ConfigureAwait(false);
                owner._metrics.BackendEnded(backendStart, head.Method, (int)response.StatusCode, null);
                ConnectorLog.Forwarded(owner._logger, head.Method, head.Target, (int)response.StatusCode);
                await sender.SendHeadAsync(Id, TargetClient.BuildResponseHead(response), endStream: false, endStreamOnEveryPiece: false, Window, token).ConfigureAwait(false);
                _status = (int)response.StatusCode;

                stage = "target response body receiving error: ";
                var stream = await response.Content.ReadAsStreamAsync(token).ConfigureAwait(false);

                // Ask the target for more only while the router keeps up (§5.6).
                // With the trailers extension a body that can have trailers (gRPC's status) ends with them (§12.8).
                var received = response;
                await sender.SendBodyAsync(stream, response.Content.Headers.ContentLength, owner._options.BodyBufferSize, Id, Window, token,
                    owner.Trailers && TargetClient.MayHaveTrailers(response) ? () => TargetClient.TrailersText(received) : null).ConfigureAwait(false);
            }
            catch (Exception) when (token.IsCancellationRequested)
            {
                // The router reset the stream or the socket ended: nothing to send.
                failure = ConnectorMetrics.ResetByRouter;
                BackendFailed(head, backendStart, response is not null, failure);
            }
            catch (Exception ex)
            {
                failure = ConnectorMetrics.BackendErrorType(ex, response is not null);
                BackendFailed(head, backendStart, response is not null, failure);
                ConnectorLog.TargetFailed(owner._logger, head.Method, head.Target, Putsh.Protocol.Diagnostics.ExceptionText.Describe(ex));
                await TryResetAsync(stage + ex.Message).ConfigureAwait(false);
            }
            finally
            {
                response?.Dispose();
                _body?.Inbound.End(V3InboundEnd.Abandoned);
                owner.Forget(Id);
                _cts.Dispose();
                RequestEnded(active, start, head, failure);
                if (span is not null)
                {
                    ConnectorTracing.Stop(span, _status, failure);
                }
            }
        }

        /// <summary>Records the end of this stream's request: its duration, status sent and failure, if any.</summary>
        private void RequestEnded(bool active, long start, ParsedRequestHead head, string? failure) =>
            owner._metrics.RequestEnded(active, CrankerProtocol.V3, start, head.Method, _status, failure);

        /// <summary>Records a failed backend request: the call's duration when it never got response headers, and the failure.</summary>
        private void BackendFailed(ParsedRequestHead head, long backendStart, bool responseReceived, string failure)
        {
            if (!responseReceived && backendStart >= 0)
            {
                owner._metrics.BackendEnded(backendStart, head.Method, null, failure);
            }

            owner._metrics.BackendFailed(failure);
        }

        /// <summary>
        /// A WebSocket (putsh websocket extension): to the in-process handler, or to the backend; 101 when it is open,
        /// the backend's refusal as a normal response otherwise.
        /// </summary>
        private async Task RunWebSocketAsync(WsTunnel tunnel, ParsedRequestHead head, CancellationToken token)
        {
            var sender = owner.Sender;
            if (owner._options.Handler is { } handler)
            {
                await sender.SendHeadAsync(Id, "HTTP/1.1 101 Switching Protocols\n", endStream: false, endStreamOnEveryPiece: false, Window, token).ConfigureAwait(false);
                _status = 101;
                var channel = new WebSocketHandlerChannel(tunnel);
                await channel.RunAsync(handler, new ChannelRequest(head.Method, head.Target, head.Headers, Stream.Null), owner._logger).ConfigureAwait(false);
                return;
            }

            var (uri, options) = owner._target.CreateWebSocket(head, owner.Time);
            Putsh.Protocol.WebSockets.WsConnection connection;
            try
            {
                using var timeout = new CancellationTokenSource(owner._options.TargetConnectTimeout + TimeSpan.FromSeconds(30), owner.Time);
                using var linked = token.UnsafeRegister(static state => ((CancellationTokenSource)state!).Cancel(), timeout);
                connection = await Putsh.Protocol.WebSockets.WsClient.ConnectAsync(uri, options, timeout.Token).ConfigureAwait(false);
            }
            catch (Exception ex) when (!token.IsCancellationRequested)
            {
                // Refused or unreachable: a normal response, the target's status if it gave one.
                var status = (ex as Putsh.Protocol.WebSockets.WsConnectException)?.Status is >= 200 and <= 999 and not 101 and var refused ? refused : 502;
                ConnectorLog.Forwarded(owner._logger, head.Method, head.Target, status);
                var body = Encoding.UTF8.GetBytes(status == 502 ? "WebSocket connection to the target failed: " + ex.Message + "\n" : "The target refused the WebSocket.\n");
                var refusal = HeadText.ForResponse(status, null);
                refusal.Add("content-type", "text/plain; charset=utf-8");
                refusal.Add("content-length", body.Length.ToString(System.Globalization.CultureInfo.InvariantCulture));
                await sender.SendHeadAsync(Id, refusal.ToResponseString(), endStream: false, endStreamOnEveryPiece: false, Window, token).ConfigureAwait(false);
                _status = status;
                var buffer = new byte[V3Frame.PrefixLength + body.Length];
                body.CopyTo(buffer, V3Frame.PrefixLength);
                await sender.SendDataAsync(buffer, body.Length, Id, V3Flags.None, Window, token).ConfigureAwait(false);
                await sender.SendEndAsync(Id, token).ConfigureAwait(false);
                return;
            }

            using var socket = connection.Socket;
            ConnectorLog.Forwarded(owner._logger, head.Method, head.Target, 101);
            var accepted = HeadText.ForResponse(101, "Switching Protocols");
            if (!string.IsNullOrEmpty(socket.SubProtocol))
            {
                accepted.Add("sec-websocket-protocol", socket.SubProtocol);
            }

            await sender.SendHeadAsync(Id, accepted.ToResponseString(), endStream: false, endStreamOnEveryPiece: false, Window, token).ConfigureAwait(false);
            _status = 101;
            await tunnel.RunAsync(socket).ConfigureAwait(false);
        }

        /// <summary>A handler's response as cranker_3.0 messages: HEADER, DATA within the window, empty DATA+END_STREAM (or RST).</summary>
        private sealed class ResponseWriter(V3Sender sender, int id, FlowWindow window) : IResponseWriter
        {
            public ValueTask WriteHeadAsync(string head, CancellationToken cancellationToken) =>
                sender.SendHeadAsync(id, head, endStream: false, endStreamOnEveryPiece: false, window, cancellationToken);

            public async ValueTask WriteBodyAsync(ReadOnlyMemory<byte> body, CancellationToken cancellationToken)
            {
                var buffer = System.Buffers.ArrayPool<byte>.Shared.Rent(V3Frame.PrefixLength + Math.Min(body.Length, V3Frame.MaxPayload));
                try
                {
                    for (var offset = 0; offset < body.Length; offset += V3Frame.MaxPayload)
                    {
                        var n = Math.Min(V3Frame.MaxPayload, body.Length - offset);
                        await window.WaitWritableAsync(cancellationToken).ConfigureAwait(false);
                        body.Span.Slice(offset, n).CopyTo(buffer.AsSpan(V3Frame.PrefixLength));
                        await sender.SendDataAsync(buffer, n, id, V3Flags.None, window, cancellationToken).ConfigureAwait(false);
                    }
                }
                finally
                {
                    System.Buffers.ArrayPool<byte>.Shared.Return(buffer);
                }
            }

            public ValueTask EndAsync() => sender.SendEndAsync(id, CancellationToken.None);

            public ValueTask FailAsync(string reason) => sender.SendRstAsync(id, 1011, reason, CancellationToken.None);
        }

        private async Task TryResetAsync(string message)
        {
            try
            {
                // A target failure resets the stream with 1011 and a short message (§5.5).
                await owner.Sender.SendRstAsync(Id, 1011, message, CancellationToken.None).ConfigureAwait(false);
            }
            catch (Exception)
            {
                // The socket is gone too.
            }
        }
    }
}
