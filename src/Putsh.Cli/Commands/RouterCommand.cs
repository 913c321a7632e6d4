using System.CommandLine;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Configuration;
using Putsh.Cli.Hosting;
using Putsh.Protocol.Configuration;
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

    /// <summary>TCP listeners, <c>address:port=route</c> each: every connection goes to a connector of that TCP route (docs/protocol.md §12.9).</summary>
    public List<string> TcpListen { get; set; } = [];

    /// <summary>Bearer token the admin listener requires (health probes excepted); required where it is not loopback.</summary>
    public string? AdminToken { get; set; }

    /// <summary>Also export ASP.NET Core's and HttpClient's per-request meters (Kestrel's and the runtime's always go).</summary>
    public bool FrameworkMetrics { get; set; }

    public string? TlsCert { get; set; }

    public string? TlsKey { get; set; }

    public RouterOptions Options { get; } = new();

    /// <summary>Kestrel's I/O buffers; <see cref="BlockPoolOptions.BlockSize"/> 0 keeps Kestrel's own 4 KiB pool.</summary>
    public BlockPoolOptions BlockPool { get; } = new();

    /// <summary>Bytes in each of Kestrel's I/O buffers (<see cref="BlockPool"/>); 0 keeps Kestrel's own pool.</summary>
    public int IoBlockSize { get => BlockPool.BlockSize; set => BlockPool.BlockSize = value; }

    /// <summary>Most bytes of free I/O buffers kept for reuse (<see cref="BlockPool"/>).</summary>
    public long IoPoolMax { get => BlockPool.MaxRetainedBytes; set => BlockPool.MaxRetainedBytes = value; }

    /// <summary>Bounds on the listeners' connections and request heads.</summary>
    public ListenerLimitSettings Limits { get; } = new();

    /// <summary>The router's clock (its timeouts, pings' bookkeeping, backoffs); null means the system's.</summary>
// A field, not a property, so that the configuration binder passes it by.
    public TimeProvider? Time;

    /// <summary>Checks what the executable adds to <see cref="RouterOptions"/>; throws <see cref="UsageException"/> naming the setting.</summary>
    public void Validate()
    {
        static void Range(string name, long value, long min, long max)
        {
            if (value < min || value > max)
            {
                throw new UsageException($"Router:{name}: {value} is not from {min} to {max}.");
            }
        }

        if (IoBlockSize != 0)
        {
            Range(nameof(IoBlockSize), IoBlockSize, BlockPoolOptions.MinBlockSize, BlockPoolOptions.MaxBlockSize);
        }

        Range(nameof(IoPoolMax), IoPoolMax, 0, long.MaxValue);
        foreach (var entry in TcpListen)
        {
            _ = ParseTcpListen(entry);
        }

        Range(nameof(Limits.MaxClientConnections), Limits.MaxClientConnections ?? 1, 1, int.MaxValue);
        Range(nameof(Limits.MaxRequestHeadSize), Limits.MaxRequestHeadSize, 1024, 1024 * 1024);
        Range(nameof(Limits.MaxRequestHeaders), Limits.MaxRequestHeaders, 1, 10_000);
        Range(nameof(Limits.MinRequestBodyRate), Limits.MinRequestBodyRate, 0, int.MaxValue);
        Range(nameof(Limits.MinResponseRate), Limits.MinResponseRate, 0, int.MaxValue);
        Range(nameof(Limits.MaxPendingRegistrations), Limits.MaxPendingRegistrations, 1, int.MaxValue);
        if (Limits.RequestHeadersTimeout <= TimeSpan.Zero || Limits.RegistrationHandshakeTimeout <= TimeSpan.Zero)
        {
            throw new UsageException("Router:RequestHeadersTimeout and Router:RegistrationHandshakeTimeout must be positive.");
        }
    }

    /// <summary>Reads one <see cref="TcpListen"/> entry, <c>address:port=route</c>; throws <see cref="UsageException"/> saying what is wrong.</summary>
    public static (System.Net.IPEndPoint EndPoint, string Route) ParseTcpListen(string entry)
    {
        var equals = entry.LastIndexOf('=');
        var route = equals < 0 ? "" : entry[(equals + 1)..].Trim();
        var address = equals < 0 ? entry : entry[..equals].Trim();
        if (route.Length == 0 || !Putsh.Protocol.CrankerProtocol.IsValidRoute(route, multiSegment: true))
        {
            throw new UsageException($"--tcp-listen '{entry}': give address:port=route, with a route name of letters, digits, '_', '.', '-'.");
        }

        if (!System.Net.IPEndPoint.TryParse(address, out var endPoint) || endPoint.Port == 0 && !address.EndsWith(":0", StringComparison.Ordinal))
        {
            throw new UsageException($"--tcp-listen '{entry}': '{address}' is not an IP address and port (0.0.0.0:5432, [::]:5432, 127.0.0.1:5432).");
        }

        return (endPoint, route);
    }
}

/// <summary><c>putsh router</c>: putsh/a, the router.</summary>
internal static class RouterCommand
{
    /// <summary>The router's settings: <see cref="RouterOptions"/>, the listeners (<see cref="RouterSettings"/>) and their bounds (<see cref="ListenerLimitSettings"/>).</summary>
    public static readonly SettingsShape Shape = SettingsShape.Of<RouterOptions>().And<RouterSettings>().And<ListenerLimitSettings>().Whole(nameof(RouterOptions.RegistrationTokens));

    public static SettingTable Settings(string listenDefault, string registerDefault) =>
        new SettingTable("Router", Shape, new RouterOptions(), new RouterSettings { Listen = [listenDefault], Register = [registerDefault] }, new ListenerLimitSettings())
            .Add("Listen", "x: address(es) where clients send HTTP/1.1 and HTTP/2 requests")
            .Add("Register", "y: address(es) where connectors register (may equal --listen)")
            .Add("TcpListen", "TCP listener address:port=route, e.g. 0.0.0.0:5432=postgres: its connections go, as raw bytes, to connectors serving that TCP route (--tcp-route); repeat for several")
            .Add("Admin", "address(es) serving the dashboard (/), /api/routes, /metrics (Prometheus), /health/live and /health/ready (not ready while stopping), e.g. http://127.0.0.1:9091; other than loopback only with --admin-token")
            .Add("AdminToken", "bearer token the admin listener requires of everything but /health/* (prefer PUTSH_Router__AdminToken: arguments are visible to other users)")
            .Add("AccessLog", "one Information line per proxied request (category Putsh.Router.Access): method, path, status, duration, route, connector, bytes, error, trace id")
            .Add("FrameworkMetrics", "also export ASP.NET Core's and HttpClient's per-request meters (http.server.*, http.client.*; about a quarter more CPU per small request); Kestrel's and the runtime's are always exported")
            .Add("TlsCert", "PEM certificate served on https:// listeners (so connectors can dial wss://)")
            .Add("TlsKey", "PEM private key for --tls-cert")
            .Add("Protocols", "Cranker versions accepted from connectors (cranker_1.0, cranker_3.0)")
            .Add("SocketAcquireTimeout", "how long a request waits for a free connector socket before 503", was: "MaxWait")
            .Add("IdleTimeout", "close a connector socket after this long with nothing read (504 if a request waits on it)")
            .Add("PingInterval", "WebSocket ping interval towards connectors; 0 disables")
            .Add("PongTimeout", "a connector socket silent this long (not even a pong) gets no new requests until it speaks again", defaultText: "1.5 x --ping-interval")
            .Add("ResponseHeadTimeout", "longest wait for a connector's response head, answered with 504")
            .Add("RoutesKeepTime", "remember a route this long after its last socket left (503 rather than 404)")
            .Add("LongestPrefixRoutes", "match multi-segment routes such as a/b by longest prefix")
            .Add("ViaName", "name of this router in the via header")
            .Add("SendLegacyForwardedHeaders", "also send x-forwarded-proto, -host and -for", was: "LegacyForwardedHeaders")
            .Add("DiscardClientForwardedHeaders", "drop forwarding headers sent by clients instead of passing them on", was: "DiscardClientForwarded")
            .Add("TrustedProxies", "addresses and CIDR ranges of proxies in front whose Forwarded and X-Forwarded-* headers are passed on; from anyone else they are dropped ('none' trusts no one)")
            .Add("ProxyHostHeader", "forward the client's Host header to the backend")
            .Add("MaxRequestBodySize", "largest request body accepted, in bytes", was: "MaxRequestBody", nullText: "unlimited")
            .Add("MaxResponseHeadSize", "largest response head accepted from a connector, in characters (1024-1048576); past it the client gets 502", was: "MaxResponseHead")
            .Add("MaxClientConnections", "client connections open at once on each --listen address; more are closed at once ('unlimited' for none)", nullText: "unlimited")
            .Add("MaxRequestHeadSize", "largest request head (all header lines) in bytes; larger gets 431 with a one-line reason (Kestrel itself refuses heads past twice this, without one)", was: "MaxRequestHead")
            .Add("MaxRequestHeaders", "most header fields in a request; more gets 431 with a one-line reason (Kestrel itself refuses past twice this)")
            .Add("RequestHeadersTimeout", "time allowed to receive a request's head (slow-loris); the connection is closed after it")
            .Add("MinRequestBodyRate", "slowest request body accepted, in bytes per second after a 5 s grace; slower uploads are ended (0 for no minimum)")
            .Add("MinResponseRate", "slowest a client may read its response, in bytes per second after a 5 s grace; a client that reads slower, or stops, is disconnected (0 for no minimum)")
            .Add("MaxBufferedResponseBytes", "response bytes held for all clients together before cranker_3.0 streams with larger flow windows are held to 64 KiB each", was: "MaxBufferedResponse")
            .Add("MaxPendingRegistrations", "connections to a --register address not yet connector sockets; more are closed at once")
            .Add("RegistrationHandshakeTimeout", "time a connection to a --register address has to become a connector socket (TLS and upgrade included)")
            .Add("RegistrationsPerSecondPerSource", "registration attempts per second from one address (a cranker_1.0 connector makes one per request), bursts of four times as many; more get 429 ('unlimited' for none)", was: "RegistrationsPerSecond", nullText: "unlimited")
            .Add("MaxSocketsPerSource", "connector sockets one address may hold; more get 429 ('unlimited' for none)", nullText: "unlimited")
            .Add("MaxSocketsPerConnector", "sockets one connector instance may hold per route; more get 429 ('unlimited' for none)", nullText: "unlimited")
            .Add("MaxSocketsPerRoute", "sockets one route may have over all its connectors; more get 429 ('unlimited' for none)", nullText: "unlimited")
            .Add("MaxStreamsPerSocket", "requests in flight at once on one cranker_3.0 socket")
            .Add("MaxConnectorMessageSize", "largest cranker_3.0 message accepted from a connector, in bytes; larger closes its socket with 1009", was: "MaxConnectorMessage")
            .Add("MaxStrayMessages", "messages a cranker_3.0 socket may send for streams the router does not have (plus 64 per stream ended) before it is closed with 1002")
            .Add("WebSockets", "carry client WebSockets to cranker_3.0 connectors that support it (putsh extension)")
            .Add("LoadBalancing", "how a cranker_3.0 route picks a socket: least-requests (the connector instance, then socket, with the fewest requests in flight) or round-robin")
            .Add("PassiveHealthFailures", "failed requests in a row (502/503/504, reset, lost socket, timeout) that take a connector instance out of rotation; 0 turns passive health off")
            .Add("PassiveHealthReactivation", "how long such an instance stays out before its next request probes it (doubled per failed probe, up to 16 times)")
            .Add("Trailers", "carry te: trailers and trailers both ways (gRPC) with cranker_3.0 connectors that support it (putsh extension)")
            .Add("MaxFlowWindow", "largest per-stream flow-control window in bytes agreed with putsh connectors (flow-window extension, with no-head-ack where offered); 0 keeps Cranker's 64 KiB and head acknowledgements")
            .Add("IoBlockSize", "bytes in each buffer Kestrel reads sockets into (4096-1048576), so the most one read returns; 0 keeps Kestrel's 4 KiB pool")
            .Add("IoPoolMax", "most bytes of free I/O buffers kept for reuse; idle ones are let go, half every 10 s")
            .Add("DrainDelay", "on SIGTERM or Ctrl-C, how long to report not ready (while still serving) before no longer accepting client connections")
            .Add("ShutdownTimeout", "on SIGTERM or Ctrl-C, after the drain delay, how long requests in flight may take to finish before connector sockets close")
            .Add("RegistrationTokens", "bearer token connectors must send to register (repeatable, for rotation); 'orders,payments: <token>' binds it to those routes", was: "RegistrationToken")
            .Add("RegistrationTokenFile", "file of registration tokens, one per line as for --registration-tokens, re-read when it changes")
            .Add("RegistrationTokenFileCheckInterval", "how often --registration-token-file is checked for changes")
            .Add("RegistrationAllow", "addresses and CIDR ranges allowed to register, checked first (e.g. 10.0.0.0/8,192.168.1.7)", defaultText: "any")
            .Add("RegistrationClientCa", "PEM CA certificate(s): connectors must present a client certificate chained to one (https:// --register only)")
            .Add("RegistrationClientCertRoutes", "with --registration-client-ca, a certificate may register only the routes named as DNS names in its SAN (or its CN); * for any")
            .Add("AllowOpenRegistration", "accept unauthenticated registrations on a non-loopback --register address (logs a warning)")
            .Add("BodyBufferSize", "bytes read from a client's request body at a time, and so the largest body message sent to a connector (1024-65536)")
            .Complete();

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
            using var reload = new ConfigurationReload(CommonOptions.Config, parse, app.Services, () => Reload(parse, settings, routerSettings, app.Services));
            await signals.WaitAsync(app.Lifetime.ApplicationStopping);
            // Bounded by the host's shutdown timeout: the drain delay plus --shutdown-timeout, and a margin.
            await app.StopAsync(CancellationToken.None);
            return 0;
        });
        return command;
    }

    /// <summary>Applies the file, environment and flags, in that order of precedence, over <paramref name="target"/>; and <c>--inline-io</c> to the process.</summary>
    public static (RouterSettings Settings, Microsoft.Extensions.Logging.LogLevel Level) Resolve(ParseResult parse, SettingTable settings, RouterSettings target)
    {
        var configuration = CommonOptions.LoadConfiguration(parse, settings);
        Bind(configuration.Section(settings), target);
        CommonOptions.ConfigureProcessIo(parse, configuration.Common);
        return (target, CommonOptions.LogLevel(parse, configuration.Common));
    }

    /// <summary>
    /// Reads the configuration again and applies what can change while the router runs: the log level, the inline
    /// registration tokens and the TLS certificate (new connections get it). Returns what it did and what would need a
    /// restart; throws <see cref="UsageException"/> for a configuration that no longer checks.
    /// </summary>
    public static string Reload(ParseResult parse, SettingTable table, RouterSettings running, IServiceProvider services)
    {
        var configuration = CommonOptions.LoadConfiguration(parse, table);
        var next = new RouterSettings();
        Bind(configuration.Section(table), next);
        try
        {
            next.Options.Validate();
        }
        catch (ArgumentException ex)
        {
            throw new UsageException(ex.Message);
        }

        next.Validate();
        var level = CommonOptions.LogLevel(parse, configuration.Common);
        var done = new List<string>();
        var restart = new List<string>();
        var certificate = services.GetService<ServerCertificate>();
        if (certificate is not null && next.TlsCert is not null)
        {
            certificate.Current = Listeners.LoadCertificate(next.TlsCert, next.TlsKey)!;
            done.Add($"certificate {certificate.Current.Subject} (expires {certificate.Current.NotAfter:yyyy-MM-dd})");
        }

        var guard = services.GetRequiredService<Putsh.Router.Registration.RegistrationGuard>();
        try
        {
            if (guard.ReplaceInlineTokens(next.Options.RegistrationTokens))
            {
                done.Add($"{next.Options.RegistrationTokens.Count} registration token(s)");
            }
            else if (next.Options.RegistrationTokens.Count > 0)
            {
                restart.Add(nameof(RouterOptions.RegistrationTokens));
            }
        }
        catch (ArgumentException ex)
        {
            throw new UsageException(ex.Message);
        }

        services.GetRequiredService<LogLevelSwitch>().Set(level);
        done.Add($"log level {level}");
        object Owner(Setting s, RouterSettings r) => s.Property.DeclaringType == typeof(RouterOptions) ? r.Options : s.Property.DeclaringType == typeof(ListenerLimitSettings) ? r.Limits : r;
        string[] live = [nameof(RouterOptions.RegistrationTokens), nameof(RouterSettings.TlsCert), nameof(RouterSettings.TlsKey)];
        foreach (var s in table.Settings.Where(s => !live.Contains(s.Name)))
        {
            if (Setting.Format(s.Property.GetValue(Owner(s, running))) != Setting.Format(s.Property.GetValue(Owner(s, next))))
            {
                restart.Add(s.Name);
            }
        }

        return string.Join(", ", done) + (restart.Count == 0 ? "" : $"; changed but needing a restart: {string.Join(", ", restart)}");
    }

    /// <summary>Binds the router's section onto its three options objects with the source-generated binder.</summary>
    public static void Bind(CliConfiguration.Bindable section, RouterSettings target)
    {
        section.Prepare(target);
        section.Prepare(target.Options);
        section.Prepare(target.Limits);
        section.Configuration.Bind(target);
        section.Configuration.Bind(target.Options);
        section.Configuration.Bind(target.Limits);
        section.Finish(target);
        section.Finish(target.Options);
        section.Finish(target.Limits);
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

        settings.Validate();

        var certificate = Listeners.LoadCertificate(settings.TlsCert, settings.TlsKey) is { } loaded ? new ServerCertificate(loaded) : null;
        AdminGuard.CheckBinding(settings.Admin, settings.AdminToken);
        var openToOthers = settings.Register.Where(url => !Listeners.IsLoopback(url)).ToList();
        if (openToOthers.Count > 0 && !settings.Options.RegistrationIsGuarded && !settings.Options.AllowOpenRegistration)
        {
            throw new UsageException(
                $"--register {openToOthers[0]} accepts connectors from other machines, so registration must be authenticated: give --registration-tokens, --registration-token-file, --registration-client-ca or --registration-allow (or --allow-open-registration to accept any connector).");
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
            foreach (var entry in settings.TcpListen)
            {
                var (endPoint, route) = RouterSettings.ParseTcpListen(entry);
                kestrel.Listen(endPoint, listen =>
                {
                    listen.RunPutshTcpRoute(route);
                    bound.AddTcp(route, listen);
                });
            }
        });
        builder.Services.AddH2cHandoff();
        if (certificate is not null)
        {
            builder.Services.AddSingleton(certificate);
        }

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
