using System.CommandLine;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Putsh.Cli.Hosting;
using Putsh.Router;
using Putsh.Router.Hosting;
using Putsh.Router.Observability;

namespace Putsh.Cli.Commands;

/// <summary>Everything <c>putsh router</c> is configured with: the library's options plus the listeners.</summary>
internal sealed class RouterSettings
{
    public List<string> Listen { get; set; } = ["http://0.0.0.0:8080"];

    public List<string> Register { get; set; } = ["http://0.0.0.0:8081"];

    public List<string> Admin { get; set; } = [];

    /// <summary>Bearer token the admin listener requires (health probes excepted); required where it is not loopback.</summary>
    public string? AdminToken { get; set; }

    /// <summary>Also export ASP.NET Core's and HttpClient's per-request meters (Kestrel's and the runtime's always go).</summary>
    public bool FrameworkMetrics { get; set; }

    public string? TlsCert { get; set; }

    public string? TlsKey { get; set; }

    public RouterOptions Options { get; } = new();

    /// <summary>Kestrel's I/O buffers; <see cref="BlockPoolOptions.BlockSize"/> 0 keeps Kestrel's own 4 KiB pool.</summary>
    public BlockPoolOptions BlockPool { get; } = new();

    /// <summary>Bounds on the listeners' connections and request heads.</summary>
    public ListenerLimitSettings Limits { get; } = new();

    /// <summary>The router's clock (its timeouts, pings' bookkeeping, backoffs); null means the system's.</summary>
    public TimeProvider? Time { get; set; }
}

/// <summary><c>putsh router</c>: putsh/a, the router.</summary>
internal static class RouterCommand
{
    public static List<Setting<RouterSettings>> Settings(string listenDefault, string registerDefault)
    {
        Setting<RouterSettings> S(string flag, string key, SettingKind kind, string def, string description, Action<RouterSettings, string[], Setting<RouterSettings>> apply)
        {
            Setting<RouterSettings>? self = null;
            self = new Setting<RouterSettings>(flag, "Router:" + key, kind, def, description, (t, v) => apply(t, v, self!));
            return self;
        }

        return
        [
            S("--listen", "Listen", SettingKind.List, listenDefault, "x: address(es) where clients send HTTP/1.1 and HTTP/2 requests", (t, v, _) => t.Listen = [.. v]),
            S("--register", "Register", SettingKind.List, registerDefault, "y: address(es) where connectors register (may equal --listen)", (t, v, _) => t.Register = [.. v]),
            S("--admin", "Admin", SettingKind.List, "none", "address(es) serving the dashboard (/), /api/routes, /metrics (Prometheus), /health/live and /health/ready (not ready while stopping), e.g. http://127.0.0.1:9091; other than loopback only with --admin-token", (t, v, _) => t.Admin = [.. v.Where(a => a != "none")]),
            S("--admin-token", "AdminToken", SettingKind.Text, "none", "bearer token the admin listener requires of everything but /health/* (prefer PUTSH_Router__AdminToken: arguments are visible to other users)", (t, v, _) => t.AdminToken = v[0]),
            S("--access-log", "AccessLog", SettingKind.Flag, "false", "one Information line per proxied request (category Putsh.Router.Access): method, path, status, duration, route, connector, bytes, error, trace id", (t, v, s) => t.Options.AccessLog = s.Bool(v[0])),
            S("--framework-metrics", "FrameworkMetrics", SettingKind.Flag, "false", "also export ASP.NET Core's and HttpClient's per-request meters (http.server.*, http.client.*; about a quarter more CPU per small request); Kestrel's and the runtime's are always exported", (t, v, s) => t.FrameworkMetrics = s.Bool(v[0])),
            S("--tls-cert", "TlsCert", SettingKind.Text, "none", "PEM certificate served on https:// listeners (so connectors can dial wss://)", (t, v, _) => t.TlsCert = v[0]),
            S("--tls-key", "TlsKey", SettingKind.Text, "none", "PEM private key for --tls-cert", (t, v, _) => t.TlsKey = v[0]),
            S("--protocols", "Protocols", SettingKind.List, "cranker_1.0,cranker_3.0", "Cranker versions accepted from connectors (cranker_1.0, cranker_3.0)", (t, v, _) =>
            {
                t.Options.Protocols.Clear();
                foreach (var p in v.SelectMany(x => x.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)))
                {
                    t.Options.Protocols.Add(p);
                }
            }),
            S("--max-wait", "MaxWait", SettingKind.Text, "5s", "how long a request waits for a free connector socket before 503", (t, v, s) => t.Options.SocketAcquireTimeout = s.Duration(v[0])),
            S("--idle-timeout", "IdleTimeout", SettingKind.Text, "60s", "close a connector socket after this long with nothing read (504 if a request waits on it)", (t, v, s) => t.Options.IdleTimeout = s.Duration(v[0])),
            S("--ping-interval", "PingInterval", SettingKind.Text, "10s", "WebSocket ping interval towards connectors; 0 disables", (t, v, s) => t.Options.PingInterval = s.Duration(v[0])),
            S("--pong-timeout", "PongTimeout", SettingKind.Text, "1.5 x --ping-interval", "a connector socket silent this long (not even a pong) gets no new requests until it speaks again", (t, v, s) => t.Options.PongTimeout = s.Duration(v[0])),
            S("--response-head-timeout", "ResponseHeadTimeout", SettingKind.Text, "none", "longest wait for a connector's response head, answered with 504", (t, v, s) => t.Options.ResponseHeadTimeout = v[0] == "none" ? null : s.Duration(v[0])),
            S("--routes-keep-time", "RoutesKeepTime", SettingKind.Text, "2h", "remember a route this long after its last socket left (503 rather than 404)", (t, v, s) => t.Options.RoutesKeepTime = s.Duration(v[0])),
            S("--longest-prefix-routes", "LongestPrefixRoutes", SettingKind.Flag, "false", "match multi-segment routes such as a/b by longest prefix", (t, v, s) => t.Options.LongestPrefixRoutes = s.Bool(v[0])),
            S("--via-name", "ViaName", SettingKind.Text, "putsh", "name of this router in the via header", (t, v, _) => t.Options.ViaName = v[0]),
            S("--legacy-forwarded-headers", "LegacyForwardedHeaders", SettingKind.Flag, "false", "also send x-forwarded-proto, -host and -for", (t, v, s) => t.Options.SendLegacyForwardedHeaders = s.Bool(v[0])),
            S("--discard-client-forwarded", "DiscardClientForwarded", SettingKind.Flag, "false", "drop forwarding headers sent by clients instead of passing them on", (t, v, s) => t.Options.DiscardClientForwardedHeaders = s.Bool(v[0])),
            S("--trusted-proxies", "TrustedProxies", SettingKind.List, "127.0.0.0/8,::1", "addresses and CIDR ranges of proxies in front whose Forwarded and X-Forwarded-* headers are passed on; from anyone else they are dropped ('none' trusts no one)", (t, v, _) =>
            {
                t.Options.TrustedProxies.Clear();
                foreach (var p in v.SelectMany(x => x.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)).Where(p => p != "none"))
                {
                    t.Options.TrustedProxies.Add(p);
                }
            }),
            S("--proxy-host-header", "ProxyHostHeader", SettingKind.Flag, "true", "forward the client's Host header to the backend", (t, v, s) => t.Options.ProxyHostHeader = s.Bool(v[0])),
            S("--max-request-body", "MaxRequestBody", SettingKind.Text, "unlimited", "largest request body accepted, in bytes", (t, v, s) => t.Options.MaxRequestBodySize = v[0] == "unlimited" ? null : s.Long(v[0], 0)),
            S("--max-response-head", "MaxResponseHead", SettingKind.Text, "65536", "largest response head accepted from a connector, in characters (1024-1048576); past it the client gets 502", (t, v, s) => t.Options.MaxResponseHeadSize = s.Int(v[0], 1024, 1024 * 1024)),
            S("--max-client-connections", "MaxClientConnections", SettingKind.Text, "10000", "client connections open at once on each --listen address; more are closed at once ('unlimited' for none)", (t, v, s) => t.Limits.MaxClientConnections = v[0] == "unlimited" ? null : s.Int(v[0], 1, int.MaxValue)),
            S("--max-request-head", "MaxRequestHead", SettingKind.Text, "32768", "largest request head (all header lines) in bytes; larger gets 431 with a one-line reason (Kestrel itself refuses heads past twice this, without one)", (t, v, s) => t.Limits.MaxRequestHeadSize = s.Int(v[0], 1024, 1024 * 1024)),
            S("--max-request-headers", "MaxRequestHeaders", SettingKind.Text, "100", "most header fields in a request; more gets 431 with a one-line reason (Kestrel itself refuses past twice this)", (t, v, s) => t.Limits.MaxRequestHeaders = s.Int(v[0], 1, 10_000)),
            S("--request-headers-timeout", "RequestHeadersTimeout", SettingKind.Text, "10s", "time allowed to receive a request's head (slow-loris); the connection is closed after it", (t, v, s) => t.Limits.RequestHeadersTimeout = s.Duration(v[0])),
            S("--min-request-body-rate", "MinRequestBodyRate", SettingKind.Text, "240", "slowest request body accepted, in bytes per second after a 5 s grace; slower uploads are ended (0 for no minimum)", (t, v, s) => t.Limits.MinRequestBodyRate = s.Int(v[0], 0, int.MaxValue)),
            S("--min-response-rate", "MinResponseRate", SettingKind.Text, "240", "slowest a client may read its response, in bytes per second after a 5 s grace; a client that reads slower, or stops, is disconnected (0 for no minimum)", (t, v, s) => t.Limits.MinResponseRate = s.Int(v[0], 0, int.MaxValue)),
            S("--max-buffered-response", "MaxBufferedResponse", SettingKind.Text, "67108864", "response bytes held for all clients together before cranker_3.0 streams with larger flow windows are held to 64 KiB each", (t, v, s) => t.Options.MaxBufferedResponseBytes = s.Long(v[0], 0)),
            S("--max-pending-registrations", "MaxPendingRegistrations", SettingKind.Text, "256", "connections to a --register address not yet connector sockets; more are closed at once", (t, v, s) => t.Limits.MaxPendingRegistrations = s.Int(v[0], 1, int.MaxValue)),
            S("--registration-handshake-timeout", "RegistrationHandshakeTimeout", SettingKind.Text, "10s", "time a connection to a --register address has to become a connector socket (TLS and upgrade included)", (t, v, s) => t.Limits.RegistrationHandshakeTimeout = s.Duration(v[0])),
            S("--registrations-per-second", "RegistrationsPerSecond", SettingKind.Text, "10000", "registration attempts per second from one address (a cranker_1.0 connector makes one per request), bursts of four times as many; more get 429 ('unlimited' for none)", (t, v, s) => t.Options.RegistrationsPerSecondPerSource = v[0] == "unlimited" ? null : s.Int(v[0], 1, int.MaxValue)),
            S("--max-sockets-per-source", "MaxSocketsPerSource", SettingKind.Text, "2048", "connector sockets one address may hold; more get 429 ('unlimited' for none)", (t, v, s) => t.Options.MaxSocketsPerSource = v[0] == "unlimited" ? null : s.Int(v[0], 1, int.MaxValue)),
            S("--max-sockets-per-connector", "MaxSocketsPerConnector", SettingKind.Text, "256", "sockets one connector instance may hold per route; more get 429 ('unlimited' for none)", (t, v, s) => t.Options.MaxSocketsPerConnector = v[0] == "unlimited" ? null : s.Int(v[0], 1, int.MaxValue)),
            S("--max-sockets-per-route", "MaxSocketsPerRoute", SettingKind.Text, "10000", "sockets one route may have over all its connectors; more get 429 ('unlimited' for none)", (t, v, s) => t.Options.MaxSocketsPerRoute = v[0] == "unlimited" ? null : s.Int(v[0], 1, int.MaxValue)),
            S("--max-streams-per-socket", "MaxStreamsPerSocket", SettingKind.Text, "1000", "requests in flight at once on one cranker_3.0 socket", (t, v, s) => t.Options.MaxStreamsPerSocket = s.Int(v[0], 1, 1_000_000)),
            S("--max-connector-message", "MaxConnectorMessage", SettingKind.Text, "1048576", "largest cranker_3.0 message accepted from a connector, in bytes; larger closes its socket with 1009", (t, v, s) => t.Options.MaxConnectorMessageSize = s.Int(v[0], 70_000, 64 * 1024 * 1024)),
            S("--max-stray-messages", "MaxStrayMessages", SettingKind.Text, "256", "messages a cranker_3.0 socket may send for streams the router does not have (plus 64 per stream ended) before it is closed with 1002", (t, v, s) => t.Options.MaxStrayMessages = s.Int(v[0], 0, 1_000_000)),
            S("--websockets", "WebSockets", SettingKind.Flag, "true", "carry client WebSockets to cranker_3.0 connectors that support it (putsh extension)", (t, v, s) => t.Options.WebSockets = s.Bool(v[0])),
            S("--max-flow-window", "MaxFlowWindow", SettingKind.Text, "1048576", "largest per-stream flow-control window in bytes agreed with putsh connectors (flow-window extension, with no-head-ack where offered); 0 keeps Cranker's 64 KiB and head acknowledgements", (t, v, s) => t.Options.MaxFlowWindow = s.Int(v[0], 0, 16 * 1024 * 1024)),
            S("--io-block-size", "IoBlockSize", SettingKind.Text, "65536", "bytes in each buffer Kestrel reads sockets into (4096-1048576), so the most one read returns; 0 keeps Kestrel's 4 KiB pool", (t, v, s) =>
            {
                var size = s.Int(v[0], 0, BlockPoolOptions.MaxBlockSize);
                t.BlockPool.BlockSize = size is 0 or >= BlockPoolOptions.MinBlockSize ? size : throw new UsageException($"--io-block-size: {size} is below {BlockPoolOptions.MinBlockSize}; use 0 for Kestrel's own pool.");
            }),
            S("--io-pool-max", "IoPoolMax", SettingKind.Text, "16777216", "most bytes of free I/O buffers kept for reuse; idle ones are let go, half every 10 s", (t, v, s) => t.BlockPool.MaxRetainedBytes = s.Long(v[0], 0)),
            S("--drain-delay", "DrainDelay", SettingKind.Text, "0s", "on SIGTERM or Ctrl-C, how long to report not ready (while still serving) before no longer accepting client connections", (t, v, s) => t.Options.DrainDelay = s.Duration(v[0])),
            S("--shutdown-timeout", "ShutdownTimeout", SettingKind.Text, "30s", "on SIGTERM or Ctrl-C, after the drain delay, how long requests in flight may take to finish before connector sockets close", (t, v, s) => t.Options.ShutdownTimeout = s.Duration(v[0])),
            S("--registration-token", "RegistrationToken", SettingKind.Entries, "none", "bearer token connectors must send to register (repeatable, for rotation); 'orders,payments: <token>' binds it to those routes", (t, v, _) =>
            {
                t.Options.RegistrationTokens.Clear();
                foreach (var token in v.Where(x => x.Length > 0))
                {
                    t.Options.RegistrationTokens.Add(token);
                }
            }),
            S("--registration-token-file", "RegistrationTokenFile", SettingKind.Text, "none", "file of registration tokens, one per line as for --registration-token, re-read when it changes", (t, v, _) => t.Options.RegistrationTokenFile = v[0]),
            S("--registration-allow", "RegistrationAllow", SettingKind.List, "any", "addresses and CIDR ranges allowed to register, checked first (e.g. 10.0.0.0/8,192.168.1.7)", (t, v, _) =>
            {
                t.Options.RegistrationAllow.Clear();
                foreach (var range in v.SelectMany(x => x.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)))
                {
                    t.Options.RegistrationAllow.Add(range);
                }
            }),
            S("--registration-client-ca", "RegistrationClientCa", SettingKind.Text, "none", "PEM CA certificate(s): connectors must present a client certificate chained to one (https:// --register only)", (t, v, _) => t.Options.RegistrationClientCa = v[0]),
            S("--registration-client-cert-routes", "RegistrationClientCertRoutes", SettingKind.Flag, "false", "with --registration-client-ca, a certificate may register only the routes named as DNS names in its SAN (or its CN); * for any", (t, v, s) => t.Options.RegistrationClientCertRoutes = s.Bool(v[0])),
            S("--allow-open-registration", "AllowOpenRegistration", SettingKind.Flag, "false", "accept unauthenticated registrations on a non-loopback --register address (logs a warning)", (t, v, s) => t.Options.AllowOpenRegistration = s.Bool(v[0])),
            S("--body-buffer", "BodyBufferSize", SettingKind.Text, "65536", "bytes read from a client's request body at a time, and so the largest body message sent to a connector (1024-65536)", (t, v, s) => t.Options.BodyBufferSize = s.Int(v[0], 1024, 65536)),
        ];
    }

    public static Command Create()
    {
        var settings = Settings("http://0.0.0.0:8080", "http://0.0.0.0:8081");
        var command = new Command("router", "putsh/a, the router: clients send requests to x (--listen); connectors register on y (--register).");
        CommonOptions.AddTo(command, settings);
        command.SetAction(async (parse, cancellationToken) =>
        {
            var (routerSettings, level) = Resolve(parse, settings, new RouterSettings());
            using var signals = new ShutdownSignals();
            await using var app = Build(routerSettings, level, out var listeners);
            await HostStart.StartAsync(app, listeners.Describe, signals.Stopping);
            CliLog.RouterListening(app.Services, listeners);
            await signals.WaitAsync(app.Lifetime.ApplicationStopping);
            // Bounded by the host's shutdown timeout: the drain delay plus --shutdown-timeout, and a margin.
            await app.StopAsync(CancellationToken.None);
            return 0;
        });
        return command;
    }

    /// <summary>Applies the file, environment and flags, in that order of precedence, over <paramref name="target"/>; and <c>--inline-io</c> to the process.</summary>
    public static (RouterSettings Settings, Microsoft.Extensions.Logging.LogLevel Level) Resolve(ParseResult parse, IEnumerable<Setting<RouterSettings>> settings, RouterSettings target)
    {
        var configuration = CommonOptions.LoadConfiguration(parse);
        foreach (var s in settings)
        {
            s.Apply(target, parse, configuration);
        }

        CommonOptions.ConfigureProcessIo(parse, configuration);
        return (target, CommonOptions.LogLevel(parse, configuration));
    }

    /// <summary>Builds the router host: Kestrel listeners, registration on y, proxy on x.</summary>
    public static WebApplication Build(RouterSettings settings, Microsoft.Extensions.Logging.LogLevel logLevel, out BoundListeners listeners, Action<Microsoft.Extensions.Logging.ILoggingBuilder>? logging = null)
    {
        try
        {
            settings.Options.Validate();
        }
        catch (ArgumentException ex)
        {
            throw new UsageException(ex.Message);
        }

        var certificate = Listeners.LoadCertificate(settings.TlsCert, settings.TlsKey);
        AdminGuard.CheckBinding(settings.Admin, settings.AdminToken);
        var openToOthers = settings.Register.Where(url => !Listeners.IsLoopback(url)).ToList();
        if (openToOthers.Count > 0 && !settings.Options.RegistrationIsGuarded && !settings.Options.AllowOpenRegistration)
        {
            throw new UsageException(
                $"--register {openToOthers[0]} accepts connectors from other machines, so registration must be authenticated: give --registration-token, --registration-token-file, --registration-client-ca or --registration-allow (or --allow-open-registration to accept any connector).");
        }

        if (settings.Options.RegistrationClientCa is not null && settings.Register.FirstOrDefault(url => !url.StartsWith("https://", StringComparison.OrdinalIgnoreCase)) is { } plain)
        {
            throw new UsageException($"--registration-client-ca: client certificates need TLS, but --register {plain} is not https://.");
        }

        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [] });
        builder.Configuration.Sources.Clear();
        CommonOptions.ConfigureLogging(builder.Logging, logLevel);
        logging?.Invoke(builder.Logging);
        var bound = new BoundListeners();
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            kestrel.Limits.MaxRequestBodySize = settings.Options.MaxRequestBodySize;
            settings.Limits.ApplyTo(kestrel.Limits);
            bound = Listeners.Configure(kestrel, settings.Listen, settings.Register, certificate, settings.Admin, askClientCertificates: settings.Options.RegistrationClientCa is not null, settings.Limits);
        });
        builder.Services.AddH2cHandoff();
        ShutdownSignals.UseFor(builder.Services);
        // The router's drain has its own bounds; the host's is a backstop past them.
        builder.Services.Configure<HostOptions>(h => h.ShutdownTimeout = settings.Options.DrainDelay + settings.Options.ShutdownTimeout + TimeSpan.FromSeconds(10));
        // So that a command can name the address a listener failed to bind (HostStart); in tests it changes nothing.
        builder.Services.Configure<SocketTransportOptions>(HostStart.WatchBinds);
        if (ProcessIo.InlineCompletions)
        {
            // A socket completion already runs on its epoll thread: let Kestrel parse and proxy the request there
            // too rather than queueing it to the thread pool. Only putsh's own non-blocking code runs in this host.
            builder.Services.Configure<SocketTransportOptions>(o => o.UnsafePreferInlineScheduling = true);
        }

        if (settings.BlockPool.BlockSize != 0)
        {
            builder.Services.AddPutshBlockPool(o =>
            {
                o.BlockSize = settings.BlockPool.BlockSize;
                o.MaxRetainedBytes = settings.BlockPool.MaxRetainedBytes;
            });
        }

        builder.Services.AddSingleton(Options.Create(settings.Options));
        if (settings.Time is { } time)
        {
            builder.Services.AddSingleton(time);
        }

        builder.Services.AddPutshRouter();
        builder.Configuration.AddOtelEnvironment();
        var prometheus = builder.Services.AddPutshTelemetry(RouterMeter.Name, RouterTracing.SourceName, prometheus: settings.Admin.Count > 0, settings.FrameworkMetrics);

        var app = builder.Build();
        listeners = bound;
        app.UseRequestHeadLimit(settings.Limits.MaxRequestHeadSize, settings.Limits.MaxRequestHeaders);
        app.MapWhen(
            c => ListenerRoleFeature.Of(c) == ListenerRole.Admin,
            b =>
            {
                b.UseAdminToken(settings.AdminToken);
                if (prometheus)
                {
                    b.UseOpenTelemetryPrometheusScrapingEndpoint("/metrics");
                }

                b.UsePutshStateApi();
                b.UsePutshDashboard();
                b.UsePutshHealth();
            });
        app.UseWhen(
            c => ListenerRoleFeature.Of(c) == ListenerRole.Registration,
            b => b.RunPutshRegistration());
        app.UseWhen(
            c => ListenerRoleFeature.Of(c) == (ListenerRole.Registration | ListenerRole.Clients),
            b => b.UsePutshRegistration());
        app.RunPutshProxy();
        CliLog.IoMode(app.Services);
        if (openToOthers.Count > 0 && !settings.Options.RegistrationIsGuarded)
        {
            CliLog.RegistrationIsOpen(app.Services, openToOthers);
        }

        return app;
    }
}
