using System.Net;
using System.Net.Http.Headers;
using Putsh.Protocol.Headers;
using Putsh.Protocol.V3;

namespace Putsh.Connector.Forwarding;

/// <summary>
/// Calls the backend as jconn does (§2.6): the original path and query on the target's scheme and authority, no
/// redirects, no cookies, no decompression, bodies streamed both ways. Which headers pass, both ways, is decided by
/// <see cref="RequestHeaderRules"/> and <see cref="ResponseHeaderRules"/>.
/// </summary>
internal sealed class TargetClient : IDisposable
{
    private readonly HttpMessageInvoker _invoker;
    private readonly string _targetBase;
    private readonly bool _preserveHost;
    private readonly Version _version;
    private readonly HttpVersionPolicy _versionPolicy;

    public TargetClient(ConnectorOptions options, HttpMessageHandler? handler = null, System.Security.Cryptography.X509Certificates.X509Certificate2Collection? extraRoots = null)
    {
        _targetBase = Uri.TryCreate(options.Target, UriKind.Absolute, out var target) ? target.GetLeftPart(UriPartial.Authority) : "http://in-process.invalid";
        _preserveHost = options.PreserveHost;
        var https = _targetBase.StartsWith("https:", StringComparison.OrdinalIgnoreCase);
        (_version, _versionPolicy) = options.TargetProtocol switch
        {
            "http2" => (HttpVersion.Version20, HttpVersionPolicy.RequestVersionExact),
            "http1" => (HttpVersion.Version11, HttpVersionPolicy.RequestVersionExact),
            _ when https => (HttpVersion.Version20, HttpVersionPolicy.RequestVersionOrLower),
            _ => (HttpVersion.Version11, HttpVersionPolicy.RequestVersionExact),
        };
        handler ??= new SocketsHttpHandler
        {
            AllowAutoRedirect = false,
            UseCookies = false,
            AutomaticDecompression = DecompressionMethods.None,
            UseProxy = false,
            ConnectTimeout = options.TargetConnectTimeout,
            PooledConnectionIdleTimeout = TimeSpan.FromSeconds(60),
            EnableMultipleHttp2Connections = true,
            // Trace context from the span that is current, if any: the connector's (docs/tracing.md). With no span,
            // HttpClient adds nothing and the client's traceparent, if any, passes through untouched.
            ActivityHeadersPropagator = System.Diagnostics.DistributedContextPropagator.Current,
            // An https target may be signed by one of the extra CAs trusted for routers (TrustedCaFile).
            SslOptions = new System.Net.Security.SslClientAuthenticationOptions { RemoteCertificateValidationCallback = Pool.RouterRegistration.CertificateCheck(extraRoots) },
        };
        _invoker = new HttpMessageInvoker(handler, disposeHandler: true);
    }

    /// <summary>
    /// Builds the backend request from a Cranker request head (§2.6); <paramref name="content"/> is the body, if any
    /// (a <see cref="StreamingRequestContent"/>, so that each piece reaches the backend as it arrives). The request owns it.
    /// With <paramref name="trailers"/> (the extension agreed with the router) a <c>te: trailers</c> goes on.
    /// </summary>
    public HttpRequestMessage CreateRequest(ParsedRequestHead head, HttpContent? content, bool trailers = false)
    {
        var uri = new Uri(_targetBase + head.Target, new UriCreationOptions { DangerousDisablePathAndQueryCanonicalization = true });
        var request = new HttpRequestMessage(new HttpMethod(head.Method), uri) { Version = _version, VersionPolicy = _versionPolicy };
        var connection = HeaderRules.ConnectionOf(head.Headers);
        request.Content = content;

        // With a connector span, HttpClient sends the span's context (a child of it) instead of the router's.
        var traced = ConnectorTracing.HasCurrent;
        foreach (var (name, value) in head.Headers)
        {
            if (trailers && RequestHeaderRules.IsTeTrailers(name, value))
            {
                request.Headers.TryAddWithoutValidation("te", "trailers");
                continue;
            }

            if (RequestHeaderRules.IsDroppedByConnector(name, connection, traced))
            {
                continue;
            }

            if (HeaderRules.IsContentLength(name))
            {
                // Fixed length when the client gave one, else chunked (§2.6).
                if (content is not null && HeaderRules.TryParseContentLength(value, out var length))
                {
                    content.Headers.ContentLength = length;
                }

                continue;
            }

            if (RequestHeaderRules.IsHost(name))
            {
                if (_preserveHost)
                {
                    request.Headers.Host = value;
                }

                continue;
            }

            if (!request.Headers.TryAddWithoutValidation(name, value))
            {
                // Content-* headers live on the content; without a body they have nothing to describe.
                content?.Headers.TryAddWithoutValidation(name, value);
            }
        }

        return request;
    }

    /// <summary>
    /// A WebSocket to the backend for an upgrade head (putsh websocket extension): <c>ws://</c> or <c>wss://</c> on the
    /// target's authority, the same path and query, the requested subprotocols, and the request's other end-to-end
    /// headers (<c>Host</c> too when it is preserved). No compression.
    /// </summary>
    public (Uri Uri, Putsh.Protocol.WebSockets.WsClientOptions Options) CreateWebSocket(ParsedRequestHead head, TimeProvider time)
    {
        var scheme = _targetBase.StartsWith("https:", StringComparison.OrdinalIgnoreCase) ? "wss" : "ws";
        var uri = new Uri(scheme + _targetBase[_targetBase.IndexOf(':', StringComparison.Ordinal)..] + head.Target, new UriCreationOptions { DangerousDisablePathAndQueryCanonicalization = true });
        var connection = HeaderRules.ConnectionOf(head.Headers);
        var subProtocols = new List<string>();
        var headers = new List<KeyValuePair<string, string>>();
        string? host = null;
        foreach (var (name, value) in head.Headers)
        {
            if (RequestHeaderRules.IsSubprotocols(name))
            {
                subProtocols.AddRange(value.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries));
                continue;
            }

            if (RequestHeaderRules.IsHost(name))
            {
                host = _preserveHost ? value : null;
                continue;
            }

            if (RequestHeaderRules.IsDroppedFromBackendWebSocket(name, value, connection))
            {
                continue;
            }

            headers.Add(new(name, value));
        }

        return (uri, new Putsh.Protocol.WebSockets.WsClientOptions
        {
            SubProtocols = subProtocols,
            Headers = headers,
            Host = host,
            // As .NET's client did: an unsolicited pong every 30 s keeps idle paths open.
            KeepAliveInterval = TimeSpan.FromSeconds(30),
            Time = time,
        });
    }

    /// <summary>One active health check (<see cref="ConnectorOptions.TargetHealth"/>): a GET of <paramref name="path"/> that must answer 2xx within <paramref name="timeout"/>.</summary>
    public async Task<(bool Healthy, string Detail)> CheckHealthAsync(string path, TimeSpan timeout, TimeProvider time, CancellationToken cancellationToken)
    {
        using var limit = new CancellationTokenSource(timeout, time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, limit.Token);
        try
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(_targetBase + path)) { Version = _version, VersionPolicy = _versionPolicy };
            using var response = await _invoker.SendAsync(request, linked.Token).ConfigureAwait(false);
            var status = (int)response.StatusCode;
            return (status is >= 200 and < 300, "status " + status.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }
        catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
        {
            return (false, limit.IsCancellationRequested ? $"no answer within {timeout}" : ex.Message);
        }
    }

    public Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken) =>
        _invoker.SendAsync(request, cancellationToken);

    /// <summary>Writes the response head text (§2.2): <c>HTTP/1.1 status reason</c>, then <c>name:value</c> lines, LF only.</summary>
    public static string BuildResponseHead(HttpResponseMessage response)
    {
        var head = HeadText.ForResponse((int)response.StatusCode, response.ReasonPhrase);
        var connection = HeaderRules.ConnectionOf(response.Headers.NonValidated);
        AddAll(head, response.Headers.NonValidated, connection);
        AddAll(head, response.Content.Headers.NonValidated, connection);
        return head.ToResponseString();
    }

    /// <summary>
    /// Whether the body of <paramref name="response"/> can end with trailers: HTTP/2 and later, or chunked HTTP/1.1.
    /// Only then is the body read to its end before it is ended (§12.8); a body of known length ends with its last DATA.
    /// </summary>
    public static bool MayHaveTrailers(HttpResponseMessage response) =>
        response.Version.Major >= 2 || response.Headers.TransferEncodingChunked == true;

    /// <summary>The backend's response trailers as a trailer section's text (§12.8), or null when it sent none. Call once the body is read to its end.</summary>
    public static string? TrailersText(HttpResponseMessage response)
    {
        var trailing = response.TrailingHeaders.NonValidated;
        if (trailing.Count == 0)
        {
            return null;
        }

        var text = new System.Text.StringBuilder();
        foreach (var (name, values) in trailing)
        {
            foreach (var value in values)
            {
                TrailersExtension.TryAppend(text, name, value);
            }
        }

        return text.Length == 0 ? null : text.ToString();
    }

    // Allocates nothing but the head text: the Connection tokens are matched in place, names lowercased as appended.
    private static void AddAll(HeadText head, HttpHeadersNonValidated headers, string? connection)
    {
        foreach (var (name, values) in headers)
        {
            if (ResponseHeaderRules.IsDroppedByConnector(name, connection))
            {
                continue;
            }

            foreach (var value in values)
            {
                head.AddLowercaseName(name, value);
            }
        }
    }

    public void Dispose() => _invoker.Dispose();
}
