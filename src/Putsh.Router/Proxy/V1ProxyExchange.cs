using System.Buffers;
using System.Net.WebSockets;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Logging;
using Putsh.Protocol.Headers;
using Putsh.Protocol.V1;
using Putsh.Router.Sockets;

namespace Putsh.Router.Proxy;

/// <summary>
/// One client request carried over one cranker_1.0 socket (§4.1, §4.9): the head and request body go out while the
/// response head and body come back, full duplex; the connector's close 1000 ends the response.
/// </summary>
internal sealed class V1ProxyExchange(HttpContext context, RouterSocketV1 socket, string route, RouterOptions options, ILogger logger, bool mayRetry = false) : IV1Exchange
{
    private readonly TaskCompletionSource<(SocketEnd End, WebSocketCloseStatus? Status, string? Reason, Exception? Error)> _ended =
        new(TaskCreationOptions.RunContinuationsAsynchronously);

    private bool _responseStarted;
    private volatile bool _headSeen;
    private volatile bool _headTimedOut;
    private volatile bool _heard;
    private long? _expectedLength;
    private long _written;
    private bool _clientFailed;
    private string? _badHead;

    /// <summary>The metrics' <c>error.type</c> once <see cref="RunAsync"/> returned <see cref="ExchangeResult.Done"/>; null for a success.</summary>
    public string? ErrorType { get; private set; }

    /// <summary>Request body bytes read from the client and sent on.</summary>
    public long BytesReceived { get; private set; }

    /// <summary>Response body bytes written to the client.</summary>
    public long BytesSent => _written;

    /// <summary>Why the head could not be written, when <see cref="RunAsync"/> returned <see cref="ExchangeResult.Unsent"/>.</summary>
    public string? Unsent { get; private set; }

    /// <summary>Runs the exchange; see <see cref="ExchangeResult"/> for when the caller may try another socket.</summary>
    public async Task<ExchangeResult> RunAsync()
    {
        var request = context.Request;
        var hasBody = context.Features.Get<IHttpRequestBodyDetectionFeature>()?.CanHaveBody ?? (request.ContentLength > 0);
        var head = RequestHeadBuilder.Build(context, options, hasBody ? V1Markers.RequestHasBody : V1Markers.RequestHasNoBody);

        // Started before the head goes out, so that the clock runs from the moment the connector can have it.
        ITimer? headTimer = null;
        if (options.ResponseHeadTimeout is { } headTimeout)
        {
            headTimer = socket.Time.CreateTimer(static s => ((V1ProxyExchange)s!).OnHeadTimeout(), this, headTimeout, Timeout.InfiniteTimeSpan);
        }

        try
        {
            await socket.Sender.SendTextAsync(head, context.RequestAborted);
        }
        catch (Exception ex) when (!context.RequestAborted.IsCancellationRequested)
        {
            // The socket broke while the head went out: the connector cannot have acted on a head it never had whole.
            headTimer?.Dispose();
            socket.Abort();
            if (mayRetry)
            {
                Unsent = ex.Message;
                return ExchangeResult.Unsent;
            }

            ErrorType = await ProxyOutcome.FinishAsync(context, logger, route, SocketEnd.SocketLost, "the socket broke while the request head was written: " + ex.Message, responseStarted: false, clientGone: false);
            return ExchangeResult.Done;
        }

        using var bodyCts = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted);
        using var abortRegistration = context.RequestAborted.Register(static s => ((RouterSocketV1)s!).CloseAsync(WebSocketCloseStatus.EndpointUnavailable, "Going away"), socket);
        var bodyTask = hasBody ? PumpRequestBodyAsync(bodyCts.Token) : Task.CompletedTask;

        var (end, status, reason, error) = await _ended.Task;
        headTimer?.Dispose();
        if (_headTimedOut && !_headSeen)
        {
            end = SocketEnd.TimedOut;
            _badHead ??= $"no response head within {options.ResponseHeadTimeout}";
        }

        await bodyCts.CancelAsync();
        await bodyTask;

        if (mayRetry && !hasBody && !_headSeen && !_heard && _badHead is null && !_clientFailed && !_headTimedOut && !context.RequestAborted.IsCancellationRequested
            && ProxyOutcome.ClosedAsIdle(end, status))
        {
            // A close frame and nothing else: the connector closed this socket as idle and never took the request.
            Unsent = $"the connector closed the socket ({(int?)status}) without taking the request";
            return ExchangeResult.Unsent;
        }

        if (end == SocketEnd.Completed && _badHead is null && _expectedLength is { } expected && _written < expected)
        {
            end = SocketEnd.ProtocolError;
            _badHead = $"the response ended {expected - _written} bytes short of its content-length";
        }

        var detail = _badHead ?? (status is null ? error?.Message : $"close {(int)status} {reason}");
        ErrorType = await ProxyOutcome.FinishAsync(context, logger, route, end, detail, _responseStarted, _clientFailed);
        return ExchangeResult.Done;
    }

    private async Task PumpRequestBodyAsync(CancellationToken cancellationToken)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(options.BodyBufferSize);
        try
        {
            var body = context.Request.Body;
            while (true)
            {
                var n = await body.ReadAsync(buffer.AsMemory(0, options.BodyBufferSize), cancellationToken);
                if (n == 0)
                {
                    break;
                }

                // One binary frame per chunk; the next read waits until it is written (§4.3).
                await socket.Sender.SendAsync(buffer.AsMemory(0, n), WebSocketMessageType.Binary, cancellationToken);
                BytesReceived += n;
            }

            await socket.Sender.SendTextAsync(V1Markers.RequestBodyEnded, cancellationToken);
        }
        catch (Exception) when (_ended.Task.IsCompleted)
        {
            // The exchange already ended (the response may be complete before the upload is): nothing to do.
        }
        catch (Exception)
        {
            // The client's body failed or the client left: the connector must stop the target call (§4.6).
            _clientFailed = true;
            await socket.CloseAsync(WebSocketCloseStatus.EndpointUnavailable, "Going away");
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private void OnHeadTimeout()
    {
        if (_headSeen || _badHead is not null)
        {
            return;
        }

        // 1001: the connector stops the target call, as for a client that left (§4.6).
        _headTimedOut = true;
        _ = socket.CloseAsync(WebSocketCloseStatus.EndpointUnavailable, "No response head in time");
    }

    public async ValueTask OnHeadAsync(string head)
    {
        _heard = true;
        var headers = new List<KeyValuePair<string, string>>();
        if (!HeadParser.TryParseResponse(head, out var status, headers))
        {
            _badHead = "unparseable response head";
            RouterLog.BadResponseHead(logger, context.Request.Method, context.Request.Path.Value ?? "/", _badHead);
            await socket.CloseAsync(WebSocketCloseStatus.ProtocolError, "Bad response head");
            return;
        }

        if (status < 200)
        {
            // A 1xx as the final answer would switch the client's connection to whatever the connector sends next.
            _badHead = $"status {status} is not a final response";
            RouterLog.BadResponseHead(logger, context.Request.Method, context.Request.Path.Value ?? "/", _badHead);
            await socket.CloseAsync(WebSocketCloseStatus.ProtocolError, "Informational status not allowed");
            return;
        }

        var response = context.Response;
        try
        {
            ResponseHeaders.Apply(response, status, headers);
            _expectedLength = HttpMethods.IsHead(context.Request.Method) || status is 204 or 304 ? null : response.ContentLength;
            _headSeen = true;

            // Send the head now: a streamed response (server-sent events) must reach the client before its body does.
            await response.StartAsync(context.RequestAborted);
            _responseStarted = true;
        }
        catch (Exception ex) when (!_responseStarted && !context.RequestAborted.IsCancellationRequested)
        {
            _badHead = "response head rejected: " + ex.Message;
            RouterLog.BadResponseHead(logger, context.Request.Method, context.Request.Path.Value ?? "/", _badHead);
            response.Headers.Clear();
            await socket.CloseAsync(WebSocketCloseStatus.ProtocolError, "Bad response head");
        }
        catch (Exception)
        {
            _clientFailed = true;
            await socket.CloseAsync(WebSocketCloseStatus.EndpointUnavailable, "Going away");
        }
    }

    public async ValueTask OnBodyAsync(ReadOnlyMemory<byte> chunk)
    {
        _heard = true;
        if (_clientFailed || _badHead is not null)
        {
            return;
        }

        if (!_headSeen || (_written += chunk.Length) > _expectedLength)
        {
            // mu sends a body before any head under 200 (§4.5); that hides a broken connector, so it is a 502 here. A
            // body longer than its content-length is cut off before Kestrel sees the excess.
            _badHead = _headSeen ? $"the response body is longer than its content-length ({_expectedLength})" : "body data before the response head";
            RouterLog.BadResponseHead(logger, context.Request.Method, context.Request.Path.Value ?? "/", _badHead);
            await socket.CloseAsync(WebSocketCloseStatus.ProtocolError, _headSeen ? "Body longer than content-length" : "Body before head");
            return;
        }

        try
        {
            await context.Response.Body.WriteAsync(chunk, context.RequestAborted);
        }
        catch (Exception)
        {
            _clientFailed = true;
            await socket.CloseAsync(WebSocketCloseStatus.EndpointUnavailable, "Going away");
        }
    }

    public void OnEnd(SocketEnd end, WebSocketCloseStatus? closeStatus, string? closeReason, Exception? error) =>
        _ended.TrySetResult((end, closeStatus, closeReason, error));
}
