using System.Buffers;
using System.IO.Pipelines;
using System.Net.WebSockets;
using System.Text;
using Microsoft.Extensions.Logging;
using Putsh.Connector.Forwarding;
using Putsh.Protocol;
using Putsh.Protocol.Headers;
using Putsh.Protocol.Transport;
using Putsh.Protocol.V1;

namespace Putsh.Connector.Sockets;

/// <summary>
/// One cranker_1.0 socket to a router (§4.9, connector side): it waits idle for one request head, calls the target,
/// streams the response back, and closes with 1000 (or 1011 when the target fails). It is never reused.
/// </summary>
internal sealed class ConnectorSocketV1 : IConnectorSocket
{
    private readonly WebSocket _socket;
    private readonly SendGate _sender;
    private readonly TargetClient _target;
    private readonly ConnectorOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly string _routerName;
    private readonly ConnectorMetrics _metrics;
    private readonly CancellationTokenSource _exchangeCts = new();
    private int _state; // 0 idle, 1 busy, 2 done
    private volatile bool _responseComplete;
    private WebSocketCloseStatus? _routerCloseStatus;
    private int _disposed;

    public ConnectorSocketV1(WebSocket socket, TargetClient target, ConnectorOptions options, TimeProvider time, ILogger logger, string routerName, ConnectorMetrics metrics)
    {
        _metrics = metrics;
        _socket = socket;
        _sender = new SendGate(socket);
        _target = target;
        _options = options;
        _time = time;
        _logger = logger;
        _routerName = routerName;
    }

    /// <summary>Raised once, when the first request arrives (the pool then dials a replacement, §1.7).</summary>
    public event Action<IConnectorSocket>? Consumed;

    public bool IsIdle => Volatile.Read(ref _state) == 0;

    public bool IsBusy => Volatile.Read(ref _state) == 1;

    /// <summary>True once a request has arrived on this socket.</summary>
    public bool WasConsumed { get; private set; }

    /// <summary>Closes an idle socket from our side (shutdown). A busy one closes itself when its response is sent.</summary>
    public Task CloseWhenIdleAsync(WebSocketCloseStatus status, string reason) =>
        Interlocked.CompareExchange(ref _state, 2, 0) == 0
            ? _sender.CloseAsync(status, reason, TimeSpan.FromSeconds(5), _time)
            : Task.CompletedTask;

    /// <summary>Ends the socket at once, whatever it is doing.</summary>
    public void Abort()
    {
        // May race with the socket ending (and being disposed) on its own: then there is nothing left to abort.
        if (Volatile.Read(ref _disposed) == 0)
        {
            try
            {
                _exchangeCts.Cancel();
            }
            catch (ObjectDisposedException)
            {
            }

            _socket.Abort();
        }
    }

    /// <summary>Runs the socket to its end. Never throws.</summary>
    public async Task RunAsync(CancellationToken stopping)
    {
        try
        {
            var head = await ReceiveHeadAsync(stopping).ConfigureAwait(false);
            if (head is null)
            {
                return;
            }

            var start = _time.GetTimestamp();

            if (Interlocked.CompareExchange(ref _state, 1, 0) != 0)
            {
                return;
            }

            WasConsumed = true;
            Consumed?.Invoke(this);
            await HandleAsync(head, start).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is WebSocketException or OperationCanceledException or ObjectDisposedException)
        {
            // The socket broke or we are stopping: nothing more to do on it.
        }
        finally
        {
            Volatile.Write(ref _state, 2);
            _socket.Abort();
        }
    }

    /// <summary>Waits for the first message, which must be a request head; null when the socket ended first.</summary>
    /// <remarks>
    /// The wait is a zero-byte receive, which holds no buffer and completes once a frame header is in (pings and
    /// pongs are handled inside it); the buffer is rented only then, so a pool of idle sockets costs little.
    /// </remarks>
    private async Task<string?> ReceiveHeadAsync(CancellationToken stopping)
    {
        byte[]? buffer = null;
        var length = 0;
        try
        {
            while (true)
            {
                ValueWebSocketReceiveResult result;
                if (buffer is null)
                {
                    result = await _socket.ReceiveAsync(Memory<byte>.Empty, stopping).ConfigureAwait(false);
                    if (result.MessageType != WebSocketMessageType.Close)
                    {
                        buffer = ArrayPool<byte>.Shared.Rent(4096);
                        if (!result.EndOfMessage)
                        {
                            continue; // now read the frame's payload into the buffer
                        }
                    }
                }
                else if (length == buffer.Length)
                {
                    if (buffer.Length >= V1Markers.MaxHeadLength * 3)
                    {
                        await _sender.CloseAsync(WebSocketCloseStatus.MessageTooBig, "request header too large", TimeSpan.FromSeconds(5), _time).ConfigureAwait(false);
                        return null;
                    }

                    var bigger = ArrayPool<byte>.Shared.Rent(buffer.Length * 2);
                    buffer.AsSpan(0, length).CopyTo(bigger);
                    ArrayPool<byte>.Shared.Return(buffer);
                    buffer = bigger;
                    continue;
                }
                else
                {
                    result = await _socket.ReceiveAsync(buffer.AsMemory(length), stopping).ConfigureAwait(false);
                }

                if (result.MessageType == WebSocketMessageType.Close)
                {
                    // The router closed an idle socket (deregistration, shutdown): answer and end.
                    await _sender.CloseAsync(WebSocketCloseStatus.NormalClosure, "", TimeSpan.FromSeconds(5), _time).ConfigureAwait(false);
                    return null;
                }

                if (result.MessageType != WebSocketMessageType.Text)
                {
                    await _sender.CloseAsync(WebSocketCloseStatus.ProtocolError, "binary message before a request head", TimeSpan.FromSeconds(5), _time).ConfigureAwait(false);
                    return null;
                }

                length += result.Count;
                if (result.EndOfMessage)
                {
                    return Encoding.UTF8.GetString(buffer.AsSpan(0, length));
                }
            }
        }
        finally
        {
            if (buffer is not null)
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
        }
    }

    private async Task HandleAsync(string headText, long start)
    {
        if (!HeadParser.TryParseRequest(headText, expectMarker: true, out var head, out var error))
        {
            ConnectorLog.BadRequestHead(_logger, _routerName, error!);
            await _sender.CloseAsync(WebSocketCloseStatus.ProtocolError, "Bad request head: " + error, TimeSpan.FromSeconds(5), _time).ConfigureAwait(false);
            return;
        }

        Pipe? bodyPipe = null;
        if (head!.Marker == V1Markers.RequestHasBody)
        {
            // Bounded: when the target reads slowly, we stop reading the socket, and the router stops reading its client.
            bodyPipe = new Pipe(new PipeOptions(pauseWriterThreshold: 128 * 1024, resumeWriterThreshold: 64 * 1024, useSynchronizationContext: false));
        }

        var receiveTask = ReceiveRequestBodyAsync(bodyPipe?.Writer, head);
        var active = _metrics.RequestStarted(CrankerProtocol.V1);
        (int? Status, string? Error) outcome = (null, null);
        try
        {
            outcome = _options.Handler is { } handler
                ? await HandleInProcessAsync(handler, head, bodyPipe?.Reader).ConfigureAwait(false)
                : await ForwardAsync(head, bodyPipe?.Reader).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            outcome.Error = ex.GetType().FullName;
            throw;
        }
        finally
        {
            // The response is sent (or failed); the router's close echo is not part of the request.
            _metrics.RequestEnded(active, CrankerProtocol.V1, start, head.Method, outcome.Status, outcome.Error);
        }

        try
        {
            // Our close is sent; the router's echo ends the receive loop. A router that never answers is not waited for.
            await receiveTask.WaitAsync(TimeSpan.FromSeconds(5), _time).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            _socket.Abort();
        }
    }

    /// <summary>
    /// Reads the rest of the exchange from the router: body frames into the pipe, <c>_3</c> to end it, and the
    /// close that ends the socket. A router close before our response is complete stops the target call (§4.6).
    /// </summary>
    private async Task ReceiveRequestBodyAsync(PipeWriter? body, ParsedRequestHead head)
    {
        var scratch = ArrayPool<byte>.Shared.Rent(256);
        try
        {
            while (true)
            {
                ValueWebSocketReceiveResult result;
                Memory<byte> memory = body is not null ? body.GetMemory(_options.BodyBufferSize) : scratch;
                result = await _socket.ReceiveAsync(memory, CancellationToken.None).ConfigureAwait(false);
                if (result.MessageType == WebSocketMessageType.Close)
                {
                    _routerCloseStatus = _socket.CloseStatus;
                    if (_socket.CloseStatus != WebSocketCloseStatus.NormalClosure || !_responseComplete)
                    {
                        ConnectorLog.RouterClosed(_logger, head.Method, head.Target, (int?)_socket.CloseStatus);
                        await _exchangeCts.CancelAsync().ConfigureAwait(false);
                    }

                    if (_socket.State == WebSocketState.CloseReceived)
                    {
                        await _sender.CloseAsync(WebSocketCloseStatus.NormalClosure, "", TimeSpan.FromSeconds(5), _time).ConfigureAwait(false);
                    }

                    body?.Complete(new OperationCanceledException("The router closed the socket."));
                    body = null;
                    return;
                }

                if (result.MessageType == WebSocketMessageType.Binary)
                {
                    if (body is null)
                    {
                        continue; // body bytes after _3 or for a bodiless request: ignored
                    }

                    body.Advance(result.Count);
                    var flush = await body.FlushAsync(CancellationToken.None).ConfigureAwait(false);
                    if (flush.IsCompleted)
                    {
                        body = null; // the target stopped reading; keep draining the socket
                    }

                    continue;
                }

                // Text: "_3" ends the body; anything else is ignored, as jconn does (§4.3).
                if (result.EndOfMessage && V1Markers.IsRequestBodyEnded(memory.Span[..result.Count]) && body is not null)
                {
                    await body.CompleteAsync().ConfigureAwait(false);
                    body = null;
                }
            }
        }
        catch (Exception ex)
        {
            await _exchangeCts.CancelAsync().ConfigureAwait(false);
            body?.Complete(ex);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(scratch);
        }
    }

    /// <summary>Serves the request with the in-process handler instead of a backend; returns the status sent and the error, if any.</summary>
    private async Task<(int? Status, string? Error)> HandleInProcessAsync(Func<ChannelRequest, Putsh.Protocol.Channels.IChannel, Task> handler, ParsedRequestHead head, PipeReader? body)
    {
        var channel = new HandlerChannel(new ResponseWriter(this));
        using var gone = _exchangeCts.Token.Register(() => channel.PeerGone(_routerCloseStatus));
        var request = new ChannelRequest(head.Method, head.Target, head.Headers, body?.AsStream() ?? Stream.Null);
        await channel.RunAsync(handler, request, _logger).ConfigureAwait(false);
        if (body is not null)
        {
            await body.CompleteAsync().ConfigureAwait(false);
        }

        var error = channel.HandlerThrew ? ConnectorMetrics.HandlerError : _exchangeCts.IsCancellationRequested ? ConnectorMetrics.ResetByRouter : null;
        return (channel.Status, error);
    }

    /// <summary>A handler's response as cranker_1.0 messages: text head, binary frames, close 1000 (or 1011).</summary>
    private sealed class ResponseWriter(ConnectorSocketV1 socket) : IResponseWriter
    {
        public ValueTask WriteHeadAsync(string head, CancellationToken cancellationToken) => socket._sender.SendTextAsync(head, cancellationToken);

        public async ValueTask WriteBodyAsync(ReadOnlyMemory<byte> body, CancellationToken cancellationToken)
        {
            for (var offset = 0; offset < body.Length; offset += socket._options.BodyBufferSize)
            {
                var n = Math.Min(socket._options.BodyBufferSize, body.Length - offset);
                await socket._sender.SendAsync(body.Slice(offset, n), WebSocketMessageType.Binary, cancellationToken).ConfigureAwait(false);
            }
        }

        public ValueTask EndAsync()
        {
            socket._responseComplete = true;
            return new ValueTask(socket._sender.CloseAsync(WebSocketCloseStatus.NormalClosure, "", TimeSpan.FromSeconds(5), socket._time));
        }

        public ValueTask FailAsync(string reason) =>
            new(socket._sender.CloseAsync(WebSocketCloseStatus.InternalServerError, reason, TimeSpan.FromSeconds(5), socket._time));
    }

    /// <summary>Serves the request from the backend; returns the status sent and the error, if any.</summary>
    private async Task<(int? Status, string? Error)> ForwardAsync(ParsedRequestHead head, PipeReader? body)
    {
        var cancellationToken = _exchangeCts.Token;
        HttpResponseMessage? response = null;
        var headSent = false;
        var backendStart = -1L;
        var backendDone = false;
        int? status = null;
        string? error = null;
        using var span = ConnectorTracing.Start(head, CrankerProtocol.V1);
        try
        {
            using var request = _target.CreateRequest(head, body is null ? null : new StreamingRequestContent(body));
            backendStart = _time.GetTimestamp();
            response = await _target.SendAsync(request, cancellationToken).ConfigureAwait(false);
            backendDone = true;
            _metrics.BackendEnded(backendStart, head.Method, (int)response.StatusCode, null);
            ConnectorLog.Forwarded(_logger, head.Method, head.Target, (int)response.StatusCode);
            await _sender.SendTextAsync(TargetClient.BuildResponseHead(response), cancellationToken).ConfigureAwait(false);
            headSent = true;
            status = (int)response.StatusCode;

            var stream = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
            var buffer = ArrayPool<byte>.Shared.Rent(_options.BodyBufferSize);
            try
            {
                while (true)
                {
                    var n = await stream.ReadAsync(buffer.AsMemory(0, _options.BodyBufferSize), cancellationToken).ConfigureAwait(false);
                    if (n == 0)
                    {
                        break;
                    }

                    await _sender.SendAsync(buffer.AsMemory(0, n), WebSocketMessageType.Binary, cancellationToken).ConfigureAwait(false);
                }
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }

            _responseComplete = true;
            await _sender.CloseAsync(WebSocketCloseStatus.NormalClosure, "", TimeSpan.FromSeconds(5), _time).ConfigureAwait(false);
        }
        catch (Exception) when (cancellationToken.IsCancellationRequested)
        {
            // The router closed the socket (client gone): the target call was stopped, nothing to report.
            error = ConnectorMetrics.ResetByRouter;
            BackendFailed(head, backendStart, backendDone, error);
        }
        catch (Exception ex)
        {
            error = ConnectorMetrics.BackendErrorType(ex, backendDone);
            BackendFailed(head, backendStart, backendDone, error);
            ConnectorLog.TargetFailed(_logger, head.Method, head.Target, Putsh.Protocol.Diagnostics.ExceptionText.Describe(ex));
            // 1011 with a short reason (§4.6): before the head the router answers 502, after it aborts the client.
            var reason = headSent ? "Target failed mid-response: " + ex.Message : "Target error: " + ex.Message;
            await _sender.CloseAsync(WebSocketCloseStatus.InternalServerError, WebSocketClose.TruncateReason(reason), TimeSpan.FromSeconds(5), _time).ConfigureAwait(false);
        }
        finally
        {
            response?.Dispose();
            if (body is not null)
            {
                await body.CompleteAsync().ConfigureAwait(false);
            }

            if (span is not null)
            {
                ConnectorTracing.Stop(span, status, error);
            }
        }

        return (status, error);
    }

    /// <summary>Records a failed backend request: the call's duration when it never got response headers, and the failure.</summary>
    private void BackendFailed(ParsedRequestHead head, long backendStart, bool backendDone, string error)
    {
        if (!backendDone && backendStart >= 0)
        {
            _metrics.BackendEnded(backendStart, head.Method, null, error);
        }

        _metrics.BackendFailed(error);
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        _exchangeCts.Dispose();
        _sender.Dispose();
        _socket.Dispose();
    }
}
