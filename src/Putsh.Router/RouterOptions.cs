using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;
using Putsh.Protocol;

namespace Putsh.Router;

/// <summary>Settings of a putsh router. Every limit here is documented in docs/configuration.md.</summary>
public sealed class RouterOptions
{
    /// <summary>
    /// Cranker protocol versions accepted at registration (§1.3): <c>cranker_1.0</c>, <c>cranker_3.0</c>, or both
    /// (the default). The connector's order of preference decides between them.
    /// </summary>
    public IList<string> Protocols { get; } = [CrankerProtocol.V1, CrankerProtocol.V3];

    /// <summary>
    /// Offer the putsh <c>websocket</c> extension (docs/websocket-extension.md) to cranker_3.0 connectors that ask for
    /// it, and carry client WebSockets over their sockets. Default true; when false, upgrade requests are proxied as
    /// plain HTTP requests, as a Cranker router does.
    /// </summary>
    public bool WebSockets { get; set; } = true;

    /// <summary>
    /// Agree the putsh <c>trailers</c> extension (docs/protocol.md §12.8) with cranker_3.0 connectors that offer it:
    /// <c>te: trailers</c> and request trailers go to the connector, and response trailers (gRPC's <c>grpc-status</c>)
    /// reach HTTP/2 clients. Default true; when false, trailers are dropped both ways, as a Cranker router does.
    /// </summary>
    public bool Trailers { get; set; } = true;

    /// <summary>
    /// How a cranker_3.0 route picks a socket for each request: <c>least-requests</c> (the default) takes the connector
    /// instance with the fewest requests in flight on the route, then its socket with the fewest, equals in turn, so a
    /// slow instance gets fewer requests; <c>round-robin</c> takes each socket in turn, as Cranker routers do.
    /// cranker_1.0 sockets carry one request each and are always taken in turn.
    /// </summary>
    public string LoadBalancing { get; set; } = "least-requests";

    /// <summary>
    /// Passive health: after this many failed requests in a row (a 502, 503 or 504 answer, a reset, a lost socket, a
    /// timeout) a connector instance is taken out of rotation for <see cref="PassiveHealthReactivation"/>, then probed
    /// back in by its next request. cranker_3.0 only. Default 5; 0 turns it off.
    /// </summary>
    [Range(0, 1_000_000)]
    public int PassiveHealthFailures { get; set; } = 5;

    /// <summary>How long an instance that failed <see cref="PassiveHealthFailures"/> times stays out before it is probed; doubled for each failed probe, up to 16 times. Default 10 s.</summary>
    public TimeSpan PassiveHealthReactivation { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>How long a request waits for a free connector socket before a 503 (mu's maxWait, §3.3). Default 5 s.</summary>
    public TimeSpan SocketAcquireTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// A connector socket from which nothing has been read for this long is closed; a request waiting on it gets a
    /// 504 (or is aborted if its response had begun). Pings are answered by live connectors, so with the defaults
    /// only dead connectors trip it, never slow backends (§1.6). Default 60 s.
    /// </summary>
    public TimeSpan IdleTimeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>Interval of the router's WebSocket pings to connectors (§1.6). Default 10 s; zero disables pings.</summary>
    public TimeSpan PingInterval { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// One Information line per proxied request in the <c>Putsh.Router.Access</c> category: method, path, status,
    /// duration, route, connector instance, body bytes each way, error type and trace id. Off by default.
    /// </summary>
    public bool AccessLog { get; set; }

    /// <summary>
    /// A connector socket from which nothing at all has arrived for this long (not even the pong to a ping) is given
    /// no new requests until something arrives again, so that a frozen connector, or one behind a half-open network
    /// path, stops taking its share of requests within one to two ping intervals instead of at <see cref="IdleTimeout"/>.
    /// Requests already on it carry on. Null (the default) means one and a half <see cref="PingInterval"/>s; with pings
    /// off it does not apply.
    /// </summary>
    public TimeSpan? PongTimeout { get; set; }

    /// <summary>
    /// Longest wait for a connector's response head once the request head is sent, answered with 504 and the stream
    /// reset (cranker_3.0) or socket closed (cranker_1.0). Null (the default) means no limit beyond <see cref="IdleTimeout"/>.
    /// </summary>
    public TimeSpan? ResponseHeadTimeout { get; set; }

    /// <summary>
    /// Registration attempts (registrations and deregistrations) accepted from one source address per second, with
    /// bursts of four times as many; more get 429. A cranker_1.0 connector registers a socket for every request it
    /// serves, so this is sized for one at full speed. Null means no limit. Default 10,000 (bursts of 40,000).
    /// </summary>
    public int? RegistrationsPerSecondPerSource { get; set; } = 10_000;

    /// <summary>Open connector sockets one source address may hold, over all its connectors and routes; more get 429. Null: no limit. Default 2,048.</summary>
    public int? MaxSocketsPerSource { get; set; } = 2048;

    /// <summary>Open sockets one connector instance may hold for one route; more get 429. Null: no limit. Default 256.</summary>
    public int? MaxSocketsPerConnector { get; set; } = 256;

    /// <summary>Open sockets one route may have, over all its connectors; more get 429. Null: no limit. Default 10,000.</summary>
    public int? MaxSocketsPerRoute { get; set; } = 10_000;

    /// <summary>Requests in flight at once on one cranker_3.0 socket; a socket at the limit takes no more (another is chosen). Default 1,000.</summary>
    [Range(1, 1_000_000)]
    public int MaxStreamsPerSocket { get; set; } = 1000;

    /// <summary>
    /// Largest cranker_3.0 message accepted from a connector, in bytes; a connector that sends a larger one has its
    /// socket closed with 1009. Default 1 MiB (a body message is at most 64 KiB; a head piece as long as the head).
    /// </summary>
    [Range(70_000, 64 * 1024 * 1024)]
    public int MaxConnectorMessageSize { get; set; } = 1024 * 1024;

    /// <summary>
    /// Messages a cranker_3.0 socket may send for streams the router does not know (never opened, or already ended)
    /// before it is closed with 1002. Each stream the router ends adds 64 to the allowance (a connector may not yet
    /// have read a reset while it sends), up to 4,096. Default 256.
    /// </summary>
    [Range(0, 1_000_000)]
    public int MaxStrayMessages { get; set; } = 256;

    /// <summary>
    /// Response bytes the router may hold for all its clients together before cranker_3.0 streams that agreed a
    /// larger flow window are held to 64 KiB each (their acknowledgements wait), so that clients that read slowly, or
    /// not at all, cost little. 0 holds every stream to 64 KiB always. Default 64 MiB.
    /// </summary>
    [Range(0, long.MaxValue)]
    public long MaxBufferedResponseBytes { get; set; } = 64 * 1024 * 1024;

    private Putsh.Protocol.V3.InboundBudget? _responseBudget;

    /// <summary>The router's one <see cref="Putsh.Protocol.V3.InboundBudget"/>.</summary>
    internal Putsh.Protocol.V3.InboundBudget ResponseBudget => _responseBudget ??= new Putsh.Protocol.V3.InboundBudget(MaxBufferedResponseBytes);

    /// <summary>The silence after which a socket is passed over, or null when that does not apply.</summary>
    internal TimeSpan? EffectivePongTimeout => PingInterval == TimeSpan.Zero ? null : PongTimeout ?? PingInterval * 1.5;

    /// <summary>
    /// How long a route that has lost all its sockets is remembered (requests wait and get 503 instead of 404).
    /// Default 2 h; zero forgets a route as soon as it has no idle sockets.
    /// </summary>
    public TimeSpan RoutesKeepTime { get; set; } = TimeSpan.FromHours(2);

    /// <summary>Match routes by the longest registered path prefix (routes like <c>a/b</c>) instead of the first segment (§3.1).</summary>
    public bool LongestPrefixRoutes { get; set; }

    /// <summary>The name this router gives itself in the <c>via</c> header (§2.3). Default <c>putsh</c>.</summary>
    [Required, RegularExpression(@"^[A-Za-z0-9!#$%&'*+\-.^_`|~:]+$")]
    public string ViaName { get; set; } = "putsh";

    /// <summary>Also send <c>x-forwarded-proto</c>, <c>-host</c> and <c>-for</c> (§2.3). Default false.</summary>
    public bool SendLegacyForwardedHeaders { get; set; }

    /// <summary>Drop the forwarding information clients send instead of passing it on before our own element. Default false, as mu.</summary>
    public bool DiscardClientForwardedHeaders { get; set; }

    /// <summary>
    /// Addresses and CIDR ranges of proxies in front of the router whose <c>Forwarded</c> and <c>X-Forwarded-*</c>
    /// headers are passed on (before the router's own element). From any other client they are dropped and only
    /// what the connection shows is sent, so a client cannot claim another address. Default loopback
    /// (<c>127.0.0.0/8</c>, <c>::1</c>), as ASP.NET Core's forwarded-headers options; empty trusts no one.
    /// </summary>
    public IList<string> TrustedProxies { get; } = ["127.0.0.0/8", "::1"];

    private System.Net.IPNetwork[]? _trustedProxyNetworks;

    /// <summary><see cref="TrustedProxies"/> parsed (once; the list is read when the router starts).</summary>
    internal System.Net.IPNetwork[] TrustedProxyNetworks() => _trustedProxyNetworks ??= [.. TrustedProxies.Select(t => Registration.RegistrationGuard.ParseNetwork(t, nameof(TrustedProxies)))];

    /// <summary>Whether forwarding headers from <paramref name="remote"/> are believed.</summary>
    internal bool IsTrustedProxy(System.Net.IPAddress? remote) =>
        // In memory there is no network hop to distrust.
        remote is null || Registration.RegistrationGuard.Contains(TrustedProxyNetworks(), Registration.RegistrationGuard.Canonical(remote));

    /// <summary>Forward the client's <c>Host</c> header to the backend (§2.3). Default true, as mu.</summary>
    public bool ProxyHostHeader { get; set; } = true;

    /// <summary>Largest request body accepted from a client, in bytes; null means no limit (bodies are streamed). Default null.</summary>
    public long? MaxRequestBodySize { get; set; }

    /// <summary>
    /// Largest response head (status line and headers) accepted from a connector, in characters, both protocol
    /// versions. A connector that sends more gets its stream reset (cranker_3.0) or its socket closed (cranker_1.0),
    /// and the client a 502. Default 64 KiB.
    /// </summary>
    [Range(1024, 1024 * 1024)]
    public int MaxResponseHeadSize { get; set; } = 64 * 1024;

    /// <summary>Size of the buffer used to move body bytes, and so the largest body frame sent to a connector. Default 64 KiB.</summary>
    [Range(1024, 65536)]
    public int BodyBufferSize { get; set; } = 64 * 1024;

    /// <summary>
    /// The largest per-stream flow-control window the router agrees to when a putsh connector offers a larger one than
    /// cranker_3.0's 64 KiB (the <c>flow-window</c> extension, docs/behaviour.md). Larger windows need fewer
    /// acknowledgement round trips per transfer, and let up to this many bytes per stream wait in the router for a
    /// slow client. Where a window is agreed, <c>no-head-ack</c> is accepted too if offered. 0 or 65536 keeps every
    /// socket at 64 KiB with §5.3's head acknowledgements. Default 1 MiB; at most 16 MiB.
    /// </summary>
    [Range(0, 16 * 1024 * 1024)]
    public int MaxFlowWindow { get; set; } = 1024 * 1024;

    /// <summary>
    /// On stop, how long the router reports itself not ready (the <c>ready</c> health check) while it keeps serving
    /// everything, before it stops accepting client connections: time for a load balancer in front to stop sending.
    /// Default zero (where a Kubernetes preStop hook or an external balancer's deregistration delay does the waiting).
    /// </summary>
    public TimeSpan DrainDelay { get; set; }

    /// <summary>
    /// On stop, after the drain delay, how long requests in flight may take to finish before the connector sockets
    /// are closed (with 1001) regardless. A host running the router must allow at least
    /// <see cref="DrainDelay"/> plus this in its own <c>HostOptions.ShutdownTimeout</c>. Default 30 s.
    /// </summary>
    public TimeSpan ShutdownTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Bearer tokens a connector must present (<c>Authorization: Bearer &lt;token&gt;</c>) to register or deregister.
    /// Each entry is <c>token</c> (any route) or <c>orders,payments: token</c> (only those routes); several entries let
    /// tokens be rotated without downtime. Together with <see cref="RegistrationTokenFile"/>; when neither holds a
    /// token, no token is asked for. Tokens are kept as SHA-256 digests, compared in constant time and never logged.
    /// </summary>
    public IList<string> RegistrationTokens { get; } = [];

    /// <summary>
    /// A file of registration tokens, one per line in the syntax of <see cref="RegistrationTokens"/> (blank lines and
    /// <c>#</c> comments ignored), re-read when its content changes (checked every
    /// <see cref="RegistrationTokenFileCheckInterval"/>). A file that cannot be read or parsed stops the router from
    /// starting; on a later change, the previous tokens stay in force and a warning is logged. Default none.
    /// </summary>
    public string? RegistrationTokenFile { get; set; }

    /// <summary>How often <see cref="RegistrationTokenFile"/> is checked for changes. Default 2 s.</summary>
    public TimeSpan RegistrationTokenFileCheckInterval { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>
    /// Addresses and CIDR ranges (<c>10.0.0.0/8</c>, <c>192.168.1.7</c>, <c>fd00::/8</c>) from which registrations
    /// are accepted, checked before anything else; others get 403. Empty (the default) allows every address.
    /// </summary>
    public IList<string> RegistrationAllow { get; } = [];

    /// <summary>
    /// A PEM file of CA certificates: a connector must present a client certificate chained to one of them (checked
    /// at the router's clock, so an expired certificate is refused). The listener must ask for client certificates
    /// (Kestrel's <c>ClientCertificateMode.AllowCertificate</c>; the <c>putsh</c> executable does this). Default none.
    /// </summary>
    public string? RegistrationClientCa { get; set; }

    /// <summary>
    /// With <see cref="RegistrationClientCa"/>: the routes a certificate may register are the DNS names in its subject
    /// alternative names (or its subject's common name when it has none); <c>*</c> among them allows any. Default
    /// false: any chained certificate may register any route.
    /// </summary>
    public bool RegistrationClientCertRoutes { get; set; }

    /// <summary>
    /// Accept registrations from non-loopback addresses although none of the registration tokens, client CA or
    /// address allow-list is configured. Default false: such a registration gets 403, so that a router exposed by
    /// mistake cannot be handed routes (and their clients' cookies) by anyone who reaches it.
    /// </summary>
    public bool AllowOpenRegistration { get; set; }

    /// <summary>Whether registration is guarded: by tokens, a token file, a client CA or an address allow-list.</summary>
    public bool RegistrationIsGuarded =>
        RegistrationTokens.Count > 0 || RegistrationTokenFile is not null || RegistrationAllow.Count > 0 || RegistrationClientCa is not null;

    /// <summary>Checks every option; throws <see cref="ArgumentException"/> naming the first one that is wrong.</summary>
    public void Validate()
    {
        // The attributes above are checked by a source-generated validator: no reflection, so trim- and AOT-safe.
        var result = new RouterOptionsValidator().Validate(name: null, this);
        if (result.Failed)
        {
            throw new ArgumentException(result.FailureMessage);
        }

        if (Protocols.Count == 0)
        {
            throw new ArgumentException("At least one protocol is required (cranker_1.0, cranker_3.0).");
        }

        foreach (var p in Protocols)
        {
            if (CrankerProtocol.Normalize(p) is null)
            {
                throw new ArgumentException($"Unsupported router protocol '{p}': use cranker_1.0 and/or cranker_3.0.");
            }
        }

        if (LoadBalancing is not ("least-requests" or "round-robin"))
        {
            throw new ArgumentException($"LoadBalancing '{LoadBalancing}' is not least-requests or round-robin.");
        }

        if (RegistrationsPerSecondPerSource <= 0 || MaxSocketsPerSource <= 0 || MaxSocketsPerConnector <= 0 || MaxSocketsPerRoute <= 0)
        {
            throw new ArgumentException("RegistrationsPerSecondPerSource, MaxSocketsPerSource, MaxSocketsPerConnector and MaxSocketsPerRoute must be positive (or unset for no limit).");
        }

        _trustedProxyNetworks = null;
        _ = TrustedProxyNetworks();

        // Loads what registration needs, so that a bad token, token file, address or CA stops the start with one line.
        _ = Registration.RegistrationGuard.LoadStatic(this);

        if (SocketAcquireTimeout < TimeSpan.Zero || IdleTimeout <= TimeSpan.Zero || PingInterval < TimeSpan.Zero || RoutesKeepTime < TimeSpan.Zero
            || DrainDelay < TimeSpan.Zero || ShutdownTimeout < TimeSpan.Zero || RegistrationTokenFileCheckInterval <= TimeSpan.Zero
            || PongTimeout <= TimeSpan.Zero || ResponseHeadTimeout <= TimeSpan.Zero)
        {
            throw new ArgumentException("Router timeouts must not be negative, and IdleTimeout, PongTimeout, ResponseHeadTimeout and RegistrationTokenFileCheckInterval must be positive.");
        }
    }
}

/// <summary>Checks the DataAnnotations attributes of <see cref="RouterOptions"/>; generated at compile time.</summary>
[OptionsValidator]
internal sealed partial class RouterOptionsValidator : IValidateOptions<RouterOptions>;
