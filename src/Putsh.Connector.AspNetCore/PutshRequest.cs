using System.Globalization;
using System.IO.Pipelines;
using System.Net;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Primitives;
using Microsoft.Net.Http.Headers;
using Putsh.Protocol.Channels;
using Putsh.Protocol.Headers;

namespace Putsh.Connector.AspNetCore;

/// <summary>
/// One request that arrived through a router, as the features ASP.NET Core reads and writes (the role Kestrel's
/// HttpProtocol plays): the request from the <see cref="ChannelRequest"/>, the response onto the <see cref="IChannel"/>.
/// </summary>
#pragma warning disable CA1001 // _aborted has no timer and no wait handle: nothing to release, and a late close may still cancel it.
internal sealed partial class PutshRequest :
#pragma warning restore CA1001
    IHttpRequestFeature,
    IHttpResponseFeature,
    IHttpResponseBodyFeature,
    IHttpRequestLifetimeFeature,
    IHttpConnectionFeature,
    IHttpRequestIdentifierFeature,
    IHttpRequestBodyDetectionFeature,
    IHttpBodyControlFeature
{
    /// <summary>Largest piece of body handed to the channel at once.</summary>
    internal const int MaxSendBytes = 64 * 1024;

    // A seed, as Kestrel seeds its connection ids: not a measure of time.
    private static long _lastConnectionId = TimeProvider.System.GetUtcNow().UtcTicks;

    private readonly IChannel _channel;
    private readonly ILogger _logger;
    private readonly ResponseBodyStream _responseBody;
    private readonly CancellationTokenSource _aborted = new();
    private readonly Lock _callbacksLock = new();
    private Stack<KeyValuePair<Func<object, Task>, object>>? _onStarting;
    private Stack<KeyValuePair<Func<object, Task>, object>>? _onCompleted;
    private PipeWriter? _writer;
    private int _statusCode = StatusCodes.Status200OK;
    private string? _reasonPhrase;
    private volatile bool _started;
    private volatile bool _completed;
    private volatile bool _discardWrites;
    private volatile bool _abortRequested;

    public PutshRequest(ChannelRequest request, IChannel channel, ILogger logger)
    {
        _channel = channel;
        _logger = logger;
        _responseBody = new ResponseBodyStream(this);

        Method = request.Method;
        RawTarget = request.Target;
        // .Value: the decoded path (a PathString converts to string in its escaped form).
        Path = request.Path.StartsWith('/') ? PathString.FromUriComponent(request.Path).Value! : "";
        QueryString = request.Query;
        var headers = new HeaderDictionary();
        foreach (var (name, value) in request.Headers)
        {
            headers[name] = headers.TryGetValue(name, out var earlier) ? StringValues.Concat(earlier, value) : new StringValues(value);
        }

        RequestHeaders = headers;
        RequestBody = request.Body;
        CanHaveBody = !ReferenceEquals(request.Body, Stream.Null);

        var forwarded = ForwardedElement.Parse(headers["forwarded"]);
        if (forwarded.Count > 0)
        {
            var last = forwarded[^1];
            if (!string.IsNullOrWhiteSpace(last.Proto))
            {
                Scheme = last.Proto.Trim().ToLowerInvariant();
            }

            (RemoteIpAddress, RemotePort) = ForwardedNode.Parse(last.For);
            (LocalIpAddress, LocalPort) = ForwardedNode.Parse(last.By);
        }

        ConnectionId = "putsh-" + Interlocked.Increment(ref _lastConnectionId).ToString("X16", CultureInfo.InvariantCulture);
        TraceIdentifier = ConnectionId + ":00000001";
        RequestAborted = _aborted.Token;
        ResponseStream = _responseBody;
    }

    // ---- IHttpRequestFeature ----

    public string Protocol { get; set; } = "HTTP/1.1";

    public string Scheme { get; set; } = "http";

    public string Method { get; set; }

    public string PathBase { get; set; } = "";

    public string Path { get; set; }

    public string QueryString { get; set; }

    public string RawTarget { get; set; }

    private IHeaderDictionary RequestHeaders { get; set; }

    IHeaderDictionary IHttpRequestFeature.Headers
    {
        get => RequestHeaders;
        set => RequestHeaders = value;
    }

    private Stream RequestBody { get; set; }

    Stream IHttpRequestFeature.Body
    {
        get => RequestBody;
        set => RequestBody = value;
    }

    // ---- IHttpRequestBodyDetectionFeature, IHttpBodyControlFeature ----

    public bool CanHaveBody { get; }

    public bool AllowSynchronousIO { get; set; }

    // ---- IHttpConnectionFeature, IHttpRequestIdentifierFeature ----

    public string ConnectionId { get; set; }

    public IPAddress? RemoteIpAddress { get; set; }

    public IPAddress? LocalIpAddress { get; set; }

    public int RemotePort { get; set; }

    public int LocalPort { get; set; }

    public string TraceIdentifier { get; set; }

    // ---- IHttpRequestLifetimeFeature ----

    public CancellationToken RequestAborted { get; set; }

    /// <summary>
    /// Kestrel's semantics as far as the channel allows: RequestAborted fires, later writes are dropped, and when the
    /// pipeline returns the channel is aborted, so the client sees an aborted response (or the router's 502 if nothing
    /// was sent yet) rather than a clean end.
    /// </summary>
    public void Abort()
    {
        _abortRequested = true;
        CancelRequestAborted();
    }

    // ---- IHttpResponseFeature ----

    public int StatusCode
    {
        get => _statusCode;
        set
        {
            ThrowIfStarted(nameof(StatusCode));
            ArgumentOutOfRangeException.ThrowIfLessThan(value, 100);
            ArgumentOutOfRangeException.ThrowIfGreaterThan(value, 999);
            _statusCode = value;
        }
    }

    public string? ReasonPhrase
    {
        get => _reasonPhrase;
        set
        {
            ThrowIfStarted(nameof(ReasonPhrase));
            _reasonPhrase = value;
        }
    }

    private IHeaderDictionary ResponseHeaders { get; set; } = new HeaderDictionary();

    IHeaderDictionary IHttpResponseFeature.Headers
    {
        get => ResponseHeaders;
        set => ResponseHeaders = value;
    }

    private Stream ResponseStream { get; set; }

    Stream IHttpResponseFeature.Body
    {
        get => ResponseStream;
        set => ResponseStream = value;
    }

    public bool HasStarted => _started;

    public void OnStarting(Func<object, Task> callback, object state)
    {
        lock (_callbacksLock)
        {
            if (_started)
            {
                throw new InvalidOperationException("OnStarting cannot be set because the response has already started.");
            }

            (_onStarting ??= new()).Push(new(callback, state));
        }
    }

    public void OnCompleted(Func<object, Task> callback, object state)
    {
        lock (_callbacksLock)
        {
            (_onCompleted ??= new()).Push(new(callback, state));
        }
    }

    // ---- IHttpResponseBodyFeature ----

    public Stream Stream => _responseBody;

    public PipeWriter Writer => _writer ??= PipeWriter.Create(_responseBody, new StreamPipeWriterOptions(leaveOpen: true));

    public void DisableBuffering()
    {
        // Nothing is buffered: every write is handed to the channel.
    }

    public Task StartAsync(CancellationToken cancellationToken = default) => StartResponseAsync(ReadOnlyMemory<byte>.Empty);

    public Task SendFileAsync(string path, long offset, long? count, CancellationToken cancellationToken = default) =>
        SendFileFallback.SendFileAsync(_responseBody, path, offset, count, cancellationToken);

    /// <summary>The application says the response is complete: flush, start if needed, and end it on the channel now.</summary>
    public async Task CompleteAsync()
    {
        await FinishResponseAsync().ConfigureAwait(false);
        _channel.Close();
    }

    // ---- the request's life ----

    /// <summary>Runs the request through the application, then ends the response; throws to make the client see an abort.</summary>
    public async Task RunAsync<TContext>(IHttpApplication<TContext> application)
        where TContext : notnull
    {
        _channel.OnClose(status =>
        {
            // ServerClose is our own end of the response; anything else is the router or the client going away.
            if (status != ChannelCloseStatus.ServerClose)
            {
                CancelRequestAborted();
            }
        });

        var features = new FeatureCollection(8);
        features.Set<IHttpRequestFeature>(this);
        features.Set<IHttpResponseFeature>(this);
        features.Set<IHttpResponseBodyFeature>(this);
        features.Set<IHttpRequestLifetimeFeature>(this);
        features.Set<IHttpConnectionFeature>(this);
        features.Set<IHttpRequestIdentifierFeature>(this);
        features.Set<IHttpRequestBodyDetectionFeature>(this);
        features.Set<IHttpBodyControlFeature>(this);

        var context = application.CreateContext(features);
        Exception? error = null;
        try
        {
            await application.ProcessRequestAsync(context).ConfigureAwait(false);
            if (!_abortRequested)
            {
                await FinishResponseAsync().ConfigureAwait(false);
            }
        }
        catch (Exception ex)
        {
            error = ex;
            if (ex is OperationCanceledException or IOException && _aborted.IsCancellationRequested)
            {
                // The client left (or the app aborted): the usual way out of a request, not an application error.
                Log.RequestAbortedException(_logger, ConnectionId, TraceIdentifier, ex.GetType().Name);
            }
            else
            {
                Log.UnhandledException(_logger, ConnectionId, TraceIdentifier, ex);
            }
        }

        var fail = _abortRequested;
        if (error is not null && !fail)
        {
            if (_started)
            {
                fail = true;
            }
            else
            {
                // As Kestrel: the response had not started, so the client gets an empty 500.
                SendErrorResponse();
            }
        }

        if (!fail)
        {
            // The response is complete; OnCompleted runs once it has been written to the router, as in Kestrel.
            _channel.Close();
            await _channel.Completion.ConfigureAwait(false);
        }

        await FireOnCompletedAsync().ConfigureAwait(false);
        application.DisposeContext(context, error);

        if (fail)
        {
            // An aborted response (v1: close 1011; v3: RST): a client whose response had not started gets the router's
            // 502, one whose response had started sees it cut off, as with Kestrel's reset connection.
            _channel.Abort();
            await _channel.Completion.ConfigureAwait(false);
        }
    }

    /// <summary>Starts the response if it has not started: OnStarting callbacks, then status, headers and <paramref name="first"/> in one send.</summary>
    private async Task StartResponseAsync(ReadOnlyMemory<byte> first)
    {
        if (_started)
        {
            return;
        }

        while (true)
        {
            KeyValuePair<Func<object, Task>, object> callback;
            lock (_callbacksLock)
            {
                if (_onStarting is null || !_onStarting.TryPop(out callback))
                {
                    _started = true;
                    break;
                }
            }

            await callback.Key(callback.Value).ConfigureAwait(false);
        }

        if (ResponseHeaders is HeaderDictionary dictionary)
        {
            dictionary.IsReadOnly = true;
        }

        if (!_discardWrites)
        {
            _channel.Send(first.IsEmpty
                ? ChannelData.Response(_statusCode, Flatten(ResponseHeaders))
                : ChannelData.Response(_statusCode, Flatten(ResponseHeaders), Pooled(first.Span), first.Length));
        }
    }

    /// <summary>Flushes what the application left in the pipe writer, and starts an empty response if nothing was written.</summary>
    private async Task FinishResponseAsync()
    {
        if (_completed)
        {
            return;
        }

        if (_writer is not null)
        {
            await _writer.CompleteAsync().ConfigureAwait(false);
        }

        if (!_started)
        {
            if (ResponseHeaders.ContentLength is null
                && !ResponseHeaders.ContainsKey(HeaderNames.TransferEncoding)
                && !HttpMethods.IsHead(Method)
                && StatusCanHaveBody(_statusCode))
            {
                ResponseHeaders.ContentLength = 0;
            }

            await StartResponseAsync(ReadOnlyMemory<byte>.Empty).ConfigureAwait(false);
        }

        _completed = true;
    }

    private void SendErrorResponse()
    {
        _discardWrites = true;
        lock (_callbacksLock)
        {
            _onStarting = null;
            _started = true;
        }

        _statusCode = StatusCodes.Status500InternalServerError;
        _channel.Send(ChannelData.Response(_statusCode, [new(HeaderNames.ContentLength, "0")]));
        _completed = true;
    }

    /// <summary>A write to the response body: the first piece goes with the head; every piece waits for the channel's queue to drain.</summary>
    internal async ValueTask WriteBodyAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        if (_completed && !_discardWrites)
        {
            throw new InvalidOperationException("The response is complete: nothing more can be written to it.");
        }

        if (_discardWrites || _abortRequested)
        {
            return;
        }

        if (!_started)
        {
            var first = HttpMethods.IsHead(Method) ? ReadOnlyMemory<byte>.Empty : data[..Math.Min(MaxSendBytes, data.Length)];
            await StartResponseAsync(first).ConfigureAwait(false);
            data = data[first.Length..];
        }

        if (HttpMethods.IsHead(Method))
        {
            // As Kestrel: a response to HEAD has a head only; body writes are dropped.
            return;
        }

        while (!data.IsEmpty && !_discardWrites && !_abortRequested)
        {
            var piece = data[..Math.Min(MaxSendBytes, data.Length)];
            // Copied (the application may reuse its buffer at once) into pooled memory that the channel gives back.
            if (!await _channel.SendAsync(ChannelData.Bytes(Pooled(piece.Span), piece.Length), cancellationToken).ConfigureAwait(false))
            {
                // The channel is closed: the client went away (RequestAborted says so), and writes are dropped, as Kestrel does.
                return;
            }

            data = data[piece.Length..];
        }
    }

    /// <summary>Starts the response (a flush sends the head, as in Kestrel).</summary>
    internal Task FlushBodyAsync() => _discardWrites || _abortRequested ? Task.CompletedTask : StartResponseAsync(ReadOnlyMemory<byte>.Empty);

    private static System.Buffers.IMemoryOwner<byte> Pooled(ReadOnlySpan<byte> bytes)
    {
        var owner = System.Buffers.MemoryPool<byte>.Shared.Rent(bytes.Length);
        bytes.CopyTo(owner.Memory.Span);
        return owner;
    }

    private async Task FireOnCompletedAsync()
    {
        while (true)
        {
            KeyValuePair<Func<object, Task>, object> callback;
            lock (_callbacksLock)
            {
                if (_onCompleted is null || !_onCompleted.TryPop(out callback))
                {
                    return;
                }
            }

            try
            {
                await callback.Key(callback.Value).ConfigureAwait(false);
            }
            catch (Exception ex)
            {
                Log.OnCompletedFailed(_logger, ConnectionId, TraceIdentifier, ex);
            }
        }
    }

    private void CancelRequestAborted()
    {
        try
        {
            _aborted.Cancel();
        }
        catch (Exception ex)
        {
            Log.AbortCallbackFailed(_logger, ConnectionId, TraceIdentifier, ex);
        }
    }

    private void ThrowIfStarted(string what)
    {
        if (_started)
        {
            throw new InvalidOperationException($"{what} cannot be set because the response has already started.");
        }
    }

    private static bool StatusCanHaveBody(int status) =>
        status is not (StatusCodes.Status204NoContent or StatusCodes.Status205ResetContent or StatusCodes.Status304NotModified) && status >= 200;

    private static List<KeyValuePair<string, string>> Flatten(IHeaderDictionary headers)
    {
        var list = new List<KeyValuePair<string, string>>(headers.Count);
        foreach (var (name, values) in headers)
        {
            foreach (var value in values)
            {
                if (value is not null)
                {
                    list.Add(new(name, value));
                }
            }
        }

        return list;
    }

    private static partial class Log
    {
        [LoggerMessage(3010, LogLevel.Error, "Connection id \"{ConnectionId}\", Request id \"{TraceIdentifier}\": an unhandled exception was thrown by the application.")]
        public static partial void UnhandledException(ILogger logger, string connectionId, string traceIdentifier, Exception exception);

        [LoggerMessage(3013, LogLevel.Debug, "Connection id \"{ConnectionId}\", Request id \"{TraceIdentifier}\": the request was aborted; the application stopped with {ExceptionType}.")]
        public static partial void RequestAbortedException(ILogger logger, string connectionId, string traceIdentifier, string exceptionType);

        [LoggerMessage(3011, LogLevel.Error, "Connection id \"{ConnectionId}\", Request id \"{TraceIdentifier}\": an OnCompleted callback threw.")]
        public static partial void OnCompletedFailed(ILogger logger, string connectionId, string traceIdentifier, Exception exception);

        [LoggerMessage(3012, LogLevel.Error, "Connection id \"{ConnectionId}\", Request id \"{TraceIdentifier}\": a RequestAborted callback threw.")]
        public static partial void AbortCallbackFailed(ILogger logger, string connectionId, string traceIdentifier, Exception exception);
    }
}
