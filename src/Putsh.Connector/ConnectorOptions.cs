using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Putsh.Protocol;

namespace Putsh.Connector;

/// <summary>Settings of a putsh connector. Every option is documented in docs/configuration.md.</summary>
public sealed class ConnectorOptions
{
    /// <summary>
    /// Router registration addresses (<c>ws://host:port</c> or <c>wss://host:port</c>). The connector registers at <c>/register/</c> from the root
    /// (§1.2), or below the address's path when it has one (<c>ws://host:port/putsh</c>: a router mapped under a prefix).
    /// A host name that resolves to several addresses means one router per address, re-resolved every
    /// <see cref="RouterRefreshInterval"/> (§1.10).
    /// </summary>
    public IList<string> Routers { get; } = [];

    /// <summary>The route served: the first path segment of the requests it receives, or <c>*</c> for all (§1.5).</summary>
    public string Route { get; set; } = "";

    /// <summary>The host name served (cranker_3.0 only); <c>*</c> means any. Default <c>*</c>.</summary>
    public string Domain { get; set; } = CrankerProtocol.CatchAll;

    /// <summary>The backend, <c>http://host:port</c> or <c>https://host:port</c>; only its scheme and authority are used (§2.6).</summary>
    public string Target { get; set; } = "";

    /// <summary>
    /// TCP routes served (the putsh <c>tcp</c> extension over cranker_3.0, docs/protocol.md §12.9), each reached by
    /// routers' <c>--tcp-listen</c> ports; the <i>n</i>th is served from the <i>n</i>th of <see cref="TcpTarget"/>. With
    /// any, <see cref="Route"/> and <see cref="Target"/> may be left empty: the connector then serves no HTTP route.
    /// </summary>
    public IList<string> TcpRoute { get; } = [];

    /// <summary>The TCP targets, <c>host:port</c> each, of <see cref="TcpRoute"/> in the same order.</summary>
    public IList<string> TcpTarget { get; } = [];

    /// <summary>True when an HTTP route is served: a <see cref="Route"/>, or no TCP route at all (which then needs one).</summary>
    internal bool ServesHttp => Route.Length > 0 || TcpRoute.Count == 0;

    /// <summary>
    /// An in-process handler that answers every request instead of a backend (<see cref="Target"/> is then not
    /// needed): it gets the request and a channel, answers with <see cref="Putsh.Protocol.Channels.IChannel.Send"/>,
    /// and the response is complete when its task completes (or when it closes the channel).
    /// </summary>
    public Func<ChannelRequest, Putsh.Protocol.Channels.IChannel, Task>? Handler { get; set; }

    /// <summary>Idle sockets kept open to each router (the sliding window, §1.7). Default 10.</summary>
    public int Sockets { get; set; } = 10;

    /// <summary>Free text sent to routers for their diagnostics. Default <c>putsh-connector</c>.</summary>
    public string ComponentName { get; set; } = "putsh-connector";

    /// <summary>This connector's id, shared by all its sockets; used by routers for deregistration. Default: a new UUID.</summary>
    public string InstanceId { get; set; } = Guid.NewGuid().ToString();

    /// <summary>
    /// Protocols offered, most preferred first (§1.4). Default <c>cranker_3.0, cranker_1.0</c>: the router picks,
    /// so a router that knows only 1.0 still works.
    /// </summary>
    public IList<string> Protocols { get; } = [CrankerProtocol.V3, CrankerProtocol.V1];

    /// <summary>
    /// Ask routers for the putsh <c>websocket</c> extension (docs/websocket-extension.md) on cranker_3.0 sockets, and
    /// carry client WebSockets to the backend (or to <see cref="Handler"/>) where a router agreed. Default true.
    /// </summary>
    public bool WebSockets { get; set; } = true;

    /// <summary>
    /// Offer the putsh <c>trailers</c> extension (docs/protocol.md §12.8) over cranker_3.0: where a router agrees,
    /// <c>te: trailers</c> reaches the backend and the backend's response trailers (gRPC's <c>grpc-status</c>) reach the
    /// client. Default true.
    /// </summary>
    public bool Trailers { get; set; } = true;

    /// <summary>WebSocket ping interval towards routers (§1.6). Default 5 s.</summary>
    public TimeSpan PingInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>A socket whose pings go unanswered for this long is dropped and replaced (§1.6). Default 20 s.</summary>
    public TimeSpan SilenceTimeout { get; set; } = TimeSpan.FromSeconds(20);

    /// <summary>Time allowed for one WebSocket connection to a router. Default 5 s.</summary>
    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>First reconnect delay after a failure; it doubles per failure, with jitter. Default 500 ms.</summary>
    public TimeSpan ReconnectInitialDelay { get; set; } = TimeSpan.FromMilliseconds(500);

    /// <summary>Longest reconnect delay. Default 10 s.</summary>
    public TimeSpan ReconnectMaxDelay { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>How often router host names are resolved again (§1.10). Default 1 min.</summary>
    public TimeSpan RouterRefreshInterval { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>
    /// Resolves a router's host name to its addresses (§1.10), each of which becomes a router of its own. Null (the
    /// default) means DNS (<see cref="System.Net.Dns.GetHostAddressesAsync(string, CancellationToken)"/>); give
    /// another to discover routers from a service registry, or to test a fleet on one machine.
    /// </summary>
    public Func<string, CancellationToken, Task<System.Net.IPAddress[]>>? HostResolver { get; set; }

    /// <summary>On stop, how long in-flight requests may take to finish before their sockets are closed. Default 1 min.</summary>
    public TimeSpan ShutdownTimeout { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>A PEM file of extra CA certificates trusted for <c>wss://</c> routers and an <c>https://</c> target, besides the system's.</summary>
    public string? TrustedCaFile { get; set; }

    /// <summary>
    /// A registration token, sent to every router as <c>Authorization: Bearer &lt;token&gt;</c> on registration and
    /// deregistration. Never logged. Use <see cref="TokenFile"/> instead to keep it out of process arguments.
    /// </summary>
    public string? Token { get; set; }

    /// <summary>
    /// A file whose first line (other than blank lines and <c>#</c> comments) is the registration token; read again every
    /// two seconds, so a rotated token is used by the next socket dialled, without a restart and without closing sockets.
    /// </summary>
    public string? TokenFile { get; set; }

    /// <summary>A PEM client certificate presented to <c>wss://</c> routers that ask for one (mTLS); needs <see cref="ClientKeyFile"/>.</summary>
    public string? ClientCertificateFile { get; set; }

    /// <summary>The PEM private key of <see cref="ClientCertificateFile"/>.</summary>
    public string? ClientKeyFile { get; set; }

    /// <summary>Send the client's <c>Host</c> header to the backend (as jconn does); false sends the backend's own authority. Default true.</summary>
    public bool PreserveHost { get; set; } = true;

    /// <summary>
    /// The HTTP version spoken to the backend: <c>auto</c> (the default) uses HTTP/2 with an <c>https://</c> target that
    /// offers it by ALPN, HTTP/1.1 otherwise; <c>http1</c> always HTTP/1.1; <c>http2</c> always HTTP/2, by ALPN with
    /// <c>https://</c> and with prior knowledge (h2c) with <c>http://</c>, which a gRPC backend without TLS needs.
    /// </summary>
    public string TargetProtocol { get; set; } = "auto";

    /// <summary>
    /// Active health: a path on the target (<c>/healthz</c>) that the connector asks with a GET every
    /// <see cref="TargetHealthInterval"/>. After two answers in a row that are not 2xx (or no answer within the
    /// interval) it deregisters from every router and closes its sockets (dark mode), so that the routers send its
    /// route's requests to other instances, or answer 503, instead of passing on the backend's 502s; on the first good
    /// answer it registers again. Null (the default) checks nothing. HTTP routes only.
    /// </summary>
    public string? TargetHealth { get; set; }

    /// <summary>How often <see cref="TargetHealth"/> is asked, and how long an answer may take. Default 5 s.</summary>
    public TimeSpan TargetHealthInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Time allowed to connect to the backend. Default 10 s.</summary>
    public TimeSpan TargetConnectTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// The longest cranker_3.0 request head accepted from a router, in characters, however many HEADER pieces it comes
    /// in (§5.3); a longer one resets its stream (1011) without calling the target. A router's own client limits
    /// (Kestrel's 32 KB of headers by default) keep real heads far below it. Default 256 Ki characters.
    /// </summary>
    public int MaxRequestHeadSize { get; set; } = 256 * 1024;

    /// <summary>
    /// The largest cranker_3.0 message accepted from a router, in bytes; a larger one closes its socket with 1009
    /// (§5.1: a message is one frame of at most 64 KiB of payload plus its prefix). Default 1 MiB.
    /// </summary>
    public int MaxRouterMessageSize { get; set; } = 1024 * 1024;

    /// <summary>
    /// Messages a router may send on a cranker_3.0 socket for streams this connector does not have (64 more allowed
    /// for each stream that ends, for what was in flight) before the socket is closed with 1002. Default 256.
    /// </summary>
    public int MaxStrayMessages { get; set; } = 256;

    /// <summary>Size of the buffer for body bytes, and so the largest body frame sent to a router (at most 64 KiB, §4.7). Default 64 KiB.</summary>
    public int BodyBufferSize { get; set; } = 64 * 1024;

    /// <summary>
    /// The per-stream flow-control window offered to cranker_3.0 routers, in bytes (the putsh <c>flow-window</c>
    /// extension, docs/behaviour.md). A putsh router answers with the window it accepts, and both sides then use it in
    /// place of §5.6's 64 KiB: fewer acknowledgement round trips per transfer, and up to this many bytes per stream
    /// waiting in the connector for a slow backend. Other routers ignore the offer. 0 or 65536 offers nothing (and so
    /// no <c>no-head-ack</c> either). Default 1 MiB; at most 16 MiB.
    /// </summary>
    public int FlowWindow { get; set; } = 1024 * 1024;

    /// <summary>
    /// Acknowledge each cranker_3.0 request head on receipt, before anything acts on it (§5.3, §5.6). A router then knows
    /// that a head never acknowledged was never taken, and sends such a request (if idempotent and without a body) to
    /// another connector when this one dies or is killed with the head unread. False offers the putsh
    /// <c>no-head-ack</c> extension beside <see cref="FlowWindow"/>: one message fewer per request, but a request in
    /// that window is answered 502 instead of being retried. Default true.
    /// </summary>
    public bool AcknowledgeHeads { get; set; } = true;

    /// <summary>Checks every option; throws <see cref="ArgumentException"/> naming the first one that is wrong.</summary>
    public void Validate()
    {
        static void Fail(string message) => throw new ArgumentException(message);

        if (Routers.Count == 0)
        {
            Fail("At least one router is required (--routers ws://host:port).");
        }

        foreach (var r in Routers)
        {
            if (!Uri.TryCreate(r, UriKind.Absolute, out var u) || (u.Scheme != "ws" && u.Scheme != "wss"))
            {
                Fail($"Router '{r}' is not a ws:// or wss:// address.");
            }
        }

        if (TcpRoute.Count != TcpTarget.Count)
        {
            Fail($"Each TCP route needs its target: {TcpRoute.Count} TcpRoute but {TcpTarget.Count} TcpTarget (--tcp-route name --tcp-target host:port, in pairs).");
        }

        for (var i = 0; i < TcpRoute.Count; i++)
        {
            if (!IsValidRoute(TcpRoute[i]) || TcpRoute[i] == CrankerProtocol.CatchAll)
            {
                Fail($"TCP route '{TcpRoute[i]}' is invalid: use letters, digits, '/', '_', '.', '-'.");
            }

            if (!TryParseTcpTarget(TcpTarget[i], out _, out _))
            {
                Fail($"TCP target '{TcpTarget[i]}' is not host:port.");
            }
        }

        if (TcpRoute.Count > 0 && !Protocols.Any(p => CrankerProtocol.Normalize(p) == CrankerProtocol.V3))
        {
            Fail("TCP routes need cranker_3.0 among Protocols.");
        }

        if (!ServesHttp)
        {
            // TCP routes only: nothing below concerns HTTP.
        }
        else if (!IsValidRoute(Route))
        {
            Fail($"Route '{Route}' is invalid: use '*' or letters, digits, '/', '_', '.', '-' with no segment ending in '.' or containing '..'.");
        }

        if (string.IsNullOrWhiteSpace(Domain))
        {
            Fail("Domain must not be empty (use '*' for any).");
        }

        if (ServesHttp && Handler is null && (!Uri.TryCreate(Target, UriKind.Absolute, out var t) || (t.Scheme != "http" && t.Scheme != "https")))
        {
            Fail($"Target '{Target}' is not an http:// or https:// address.");
        }

        if (TargetHealth is not null && (!TargetHealth.StartsWith('/') || Handler is not null || !ServesHttp))
        {
            Fail($"TargetHealth '{TargetHealth}' must be a path on the target starting with '/' (and needs an HTTP --target).");
        }

        if (TargetHealthInterval <= TimeSpan.Zero)
        {
            Fail("TargetHealthInterval must be positive.");
        }

        if (TargetProtocol is not ("auto" or "http1" or "http2"))
        {
            Fail($"TargetProtocol '{TargetProtocol}' is not one of auto, http1, http2.");
        }

        if (Sockets is < 1 or > 1000)
        {
            Fail($"Sockets must be between 1 and 1000 (was {Sockets}).");
        }

        if (Protocols.Count == 0)
        {
            Fail("At least one protocol is required.");
        }

        foreach (var p in Protocols)
        {
            if (CrankerProtocol.Normalize(p) is null)
            {
                Fail($"Unsupported connector protocol '{p}': use cranker_3.0 and/or cranker_1.0.");
            }
        }

        if (FlowWindow is < 0 or > 16 * 1024 * 1024)
        {
            Fail("FlowWindow must be between 0 and 16 MiB.");
        }

        if (BodyBufferSize is < 1024 or > 65536)
        {
            Fail("BodyBufferSize must be between 1024 and 65536.");
        }

        if (MaxRequestHeadSize < 1024)
        {
            Fail("MaxRequestHeadSize must be at least 1024 characters.");
        }

        if (MaxRouterMessageSize < 70_000)
        {
            Fail("MaxRouterMessageSize must be at least 70000 bytes (a 64 KiB frame and its prefix).");
        }

        if (MaxStrayMessages < 0)
        {
            Fail("MaxStrayMessages must not be negative.");
        }

        if (PingInterval < TimeSpan.Zero || SilenceTimeout <= TimeSpan.Zero || ConnectTimeout <= TimeSpan.Zero
            || ReconnectInitialDelay <= TimeSpan.Zero || ReconnectMaxDelay < ReconnectInitialDelay
            || RouterRefreshInterval <= TimeSpan.Zero || ShutdownTimeout < TimeSpan.Zero || TargetConnectTimeout <= TimeSpan.Zero)
        {
            Fail("Connector durations must be positive, and ReconnectMaxDelay at least ReconnectInitialDelay.");
        }

        if (TrustedCaFile is not null && !File.Exists(TrustedCaFile))
        {
            Fail($"Trusted CA file '{TrustedCaFile}' does not exist.");
        }

        if (TrustedCaFile is not null)
        {
            _ = LoadTrustedCa(TrustedCaFile);
        }

        if (Token is not null && TokenFile is not null)
        {
            Fail("Give a token or a token file, not both.");
        }

        if (Token is not null && !Pool.RegistrationCredentials.IsValidToken(Token))
        {
            Fail("The token must be visible ASCII with no spaces (it is sent as a Bearer token).");
        }

        if (TokenFile is not null && !File.Exists(TokenFile))
        {
            Fail($"Token file '{TokenFile}' does not exist.");
        }

        if ((ClientCertificateFile is null) != (ClientKeyFile is null))
        {
            Fail("A client certificate needs both --client-certificate-file and --client-key-file.");
        }

        if (ClientCertificateFile is not null && !File.Exists(ClientCertificateFile))
        {
            Fail($"Client certificate file '{ClientCertificateFile}' does not exist.");
        }

        if (ClientKeyFile is not null && !File.Exists(ClientKeyFile))
        {
            Fail($"Client key file '{ClientKeyFile}' does not exist.");
        }

        // Loading them now turns an unusable file into a start-up error rather than a failing dial.
        new Pool.RegistrationCredentials(this, TimeProvider.System).Dispose();
    }

    /// <summary>
    /// The certificates of a <see cref="TrustedCaFile"/>; throws <see cref="ArgumentException"/> naming the file when it
    /// cannot be read or holds no PEM certificate (a file of anything else would otherwise trust nothing, silently).
    /// </summary>
    internal static X509Certificate2Collection LoadTrustedCa(string file)
    {
        var certificates = new X509Certificate2Collection();
        try
        {
            certificates.ImportFromPemFile(file);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or CryptographicException)
        {
            throw new ArgumentException($"Trusted CA file '{file}' cannot be read: {ex.Message}");
        }

        return certificates.Count > 0 ? certificates : throw new ArgumentException($"Trusted CA file '{file}' holds no PEM certificate.");
    }

    /// <summary>jconn's route rule (§1.5): <c>*</c>, or <c>[A-Za-z0-9/_.-]+</c> with no segment ending in '.' or containing "..".</summary>
    /// <summary>Reads a TCP target, <c>host:port</c> (an IPv6 address in brackets).</summary>
    internal static bool TryParseTcpTarget(string? value, out string host, out int port)
    {
        host = "";
        port = 0;
        var colon = value?.LastIndexOf(':') ?? -1;
        if (colon <= 0 || !int.TryParse(value.AsSpan(colon + 1), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out port) || port is < 1 or > 65535)
        {
            return false;
        }

        host = value![..colon].Trim('[', ']');
        return host.Length > 0;
    }

    internal static bool IsValidRoute(string? route)
    {
        if (string.IsNullOrEmpty(route))
        {
            return false;
        }

        if (route == CrankerProtocol.CatchAll)
        {
            return true;
        }

        foreach (var c in route)
        {
            if (!(char.IsAsciiLetterOrDigit(c) || c is '/' or '_' or '.' or '-'))
            {
                return false;
            }
        }

        foreach (var segment in route.Split('/'))
        {
            if (segment.EndsWith('.') || segment.Contains("..", StringComparison.Ordinal))
            {
                return false;
            }
        }

        return true;
    }
}
