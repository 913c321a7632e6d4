using System.CommandLine;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Putsh.Cli.Hosting;
using Putsh.Connector;

namespace Putsh.Cli.Commands;

/// <summary><c>putsh connector</c>: putsh/b, the connector.</summary>
internal static class ConnectorCommand
{
    public static List<Setting<ConnectorOptions>> Settings()
    {
        Setting<ConnectorOptions> S(string flag, string key, SettingKind kind, string def, string description, Action<ConnectorOptions, string[], Setting<ConnectorOptions>> apply)
        {
            Setting<ConnectorOptions>? self = null;
            self = new Setting<ConnectorOptions>(flag, "Connector:" + key, kind, def, description, (t, v) => apply(t, v, self!));
            return self;
        }

        return
        [
            S("--router", "Router", SettingKind.List, "required", "o: router registration address(es), ws://host:port or wss://host:port; repeat for several routers", (t, v, _) =>
            {
                t.Routers.Clear();
                foreach (var r in v)
                {
                    t.Routers.Add(r);
                }
            }),
            S("--route", "Route", SettingKind.Text, "required", "route served: the first path segment of its requests, or * for everything", (t, v, _) => t.Route = v[0]),
            S("--target", "Target", SettingKind.Text, "required", "p: the backend, http://host:port or https://host:port", (t, v, _) => t.Target = v[0]),
            S("--domain", "Domain", SettingKind.Text, "*", "host name served (cranker_3.0 routers only)", (t, v, _) => t.Domain = v[0]),
            S("--protocols", "Protocols", SettingKind.List, "cranker_3.0,cranker_1.0", "Cranker versions offered, most preferred first; the router picks", (t, v, _) =>
            {
                t.Protocols.Clear();
                foreach (var p in v.SelectMany(x => x.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)))
                {
                    t.Protocols.Add(p);
                }
            }),
            S("--sockets", "Sockets", SettingKind.Text, "10", "idle sockets kept open to each router", (t, v, s) => t.Sockets = s.Int(v[0], 1, 1000)),
            S("--component-name", "ComponentName", SettingKind.Text, "putsh-connector", "name shown in routers' diagnostics", (t, v, _) => t.ComponentName = v[0]),
            S("--instance-id", "InstanceId", SettingKind.Text, "a new UUID", "id shared by all this connector's sockets", (t, v, _) => t.InstanceId = v[0]),
            S("--ping-interval", "PingInterval", SettingKind.Text, "5s", "WebSocket ping interval towards routers", (t, v, s) => t.PingInterval = s.Duration(v[0])),
            S("--silence-timeout", "SilenceTimeout", SettingKind.Text, "20s", "drop and replace a socket whose pings go unanswered this long", (t, v, s) => t.SilenceTimeout = s.Duration(v[0])),
            S("--connect-timeout", "ConnectTimeout", SettingKind.Text, "5s", "time allowed to open one socket to a router", (t, v, s) => t.ConnectTimeout = s.Duration(v[0])),
            S("--reconnect-max-delay", "ReconnectMaxDelay", SettingKind.Text, "10s", "longest wait between reconnection attempts (exponential, with jitter, from 500ms)", (t, v, s) => t.ReconnectMaxDelay = s.Duration(v[0])),
            S("--router-refresh-interval", "RouterRefreshInterval", SettingKind.Text, "1m", "how often router host names are resolved again (one router per address)", (t, v, s) => t.RouterRefreshInterval = s.Duration(v[0])),
            S("--shutdown-timeout", "ShutdownTimeout", SettingKind.Text, "1m", "on SIGTERM or Ctrl-C, how long requests in flight may take to finish", (t, v, s) => t.ShutdownTimeout = s.Duration(v[0])),
            S("--trusted-ca", "TrustedCa", SettingKind.Text, "none", "PEM file of extra CA certificates to trust for wss:// routers", (t, v, _) => t.TrustedCaFile = v[0]),
            S("--token", "Token", SettingKind.Text, "none", "registration token sent to routers as Authorization: Bearer (prefer --token-file or PUTSH_Connector__Token: arguments are visible to other users)", (t, v, _) => t.Token = v[0]),
            S("--token-file", "TokenFile", SettingKind.Text, "none", "file whose first line is the registration token; read again when it changes", (t, v, _) => t.TokenFile = v[0]),
            S("--client-cert", "ClientCert", SettingKind.Text, "none", "PEM client certificate for wss:// routers that require one (mTLS)", (t, v, _) => t.ClientCertificateFile = v[0]),
            S("--client-key", "ClientKey", SettingKind.Text, "none", "PEM private key of --client-cert", (t, v, _) => t.ClientKeyFile = v[0]),
            S("--preserve-host", "PreserveHost", SettingKind.Flag, "true", "send the client's Host header to the backend", (t, v, s) => t.PreserveHost = s.Bool(v[0])),
            S("--websockets", "WebSockets", SettingKind.Flag, "true", "carry client WebSockets to the backend where the router agrees (putsh extension, cranker_3.0)", (t, v, s) => t.WebSockets = s.Bool(v[0])),
            S("--flow-window", "FlowWindow", SettingKind.Text, "1048576", "per-stream flow-control window in bytes offered to putsh routers (putsh extension, cranker_3.0); 0 keeps Cranker's 64 KiB", (t, v, s) => t.FlowWindow = s.Int(v[0], 0, 16 * 1024 * 1024)),
            S("--acknowledge-heads", "AcknowledgeHeads", SettingKind.Flag, "true", "acknowledge each request head on receipt, so a router can retry elsewhere what a killed connector never took; false offers no-head-ack beside --flow-window (one message fewer per request)", (t, v, s) => t.AcknowledgeHeads = s.Bool(v[0])),
            S("--max-request-head", "MaxRequestHeadSize", SettingKind.Text, "262144", "longest cranker_3.0 request head accepted from a router, in characters; a longer one resets its stream (1011)", (t, v, s) => t.MaxRequestHeadSize = s.Int(v[0], 1024, 64 * 1024 * 1024)),
            S("--max-router-message", "MaxRouterMessageSize", SettingKind.Text, "1048576", "largest cranker_3.0 message accepted from a router, in bytes; larger closes its socket with 1009", (t, v, s) => t.MaxRouterMessageSize = s.Int(v[0], 70_000, 64 * 1024 * 1024)),
            S("--max-stray-messages", "MaxStrayMessages", SettingKind.Text, "256", "messages a router may send on a cranker_3.0 socket for streams the connector does not have (plus 64 per stream ended) before it is closed with 1002", (t, v, s) => t.MaxStrayMessages = s.Int(v[0], 0, 1_000_000)),
            S("--body-buffer", "BodyBufferSize", SettingKind.Text, "65536", "bytes read from the backend at a time, and so the largest body message sent to a router (1024-65536)", (t, v, s) => t.BodyBufferSize = s.Int(v[0], 1024, 65536)),
        ];
    }

    /// <summary>The settings of the connector's process rather than of the connector: its admin listener.</summary>
    public static List<Setting<ConnectorHostSettings>> HostSettings()
    {
        Setting<ConnectorHostSettings> S(string flag, string key, SettingKind kind, string def, string description, Action<ConnectorHostSettings, string[], Setting<ConnectorHostSettings>> apply)
        {
            Setting<ConnectorHostSettings>? self = null;
            self = new Setting<ConnectorHostSettings>(flag, "Connector:" + key, kind, def, description, (t, v) => apply(t, v, self!));
            return self;
        }

        return
        [
            S("--admin", "Admin", SettingKind.List, "none", "address(es) serving /metrics (Prometheus), /health/live, /health/ready and /api/connector, e.g. http://127.0.0.1:9092; other than loopback only with --admin-token", (t, v, _) => t.Admin = [.. v.Where(a => a != "none")]),
            S("--admin-token", "AdminToken", SettingKind.Text, "none", "bearer token the admin listener requires of everything but /health/* (prefer PUTSH_Connector__AdminToken: arguments are visible to other users)", (t, v, _) => t.AdminToken = v[0]),
            S("--framework-metrics", "FrameworkMetrics", SettingKind.Flag, "false", "also export HttpClient's per-request meters (http.client.*; more CPU per request); the runtime's are always exported", (t, v, s) => t.FrameworkMetrics = s.Bool(v[0])),
            S("--ready-when", "ReadyWhen", SettingKind.Text, "any", "/health/ready once registered with any router, or with all of them", (t, v, s) => t.ReadyWhenAllRouters = v[0] switch
            {
                "any" => false,
                "all" => true,
                _ => throw new UsageException($"--ready-when: expected any or all, not '{v[0]}'."),
            }),
            S("--target-unhealthy-after", "TargetUnhealthyAfter", SettingKind.Text, "30s", "/health/ready fails once every call to the target has failed this long (0 to never)", (t, v, s) => t.TargetUnhealthyAfter = s.Duration(v[0])),
        ];
    }

    public static Command Create()
    {
        var settings = Settings();
        var hostSettings = HostSettings();
        var command = new Command("connector", "putsh/b, the connector: dials the routers (o) and serves their requests from the backend (p).");
        CommonOptions.AddTo(command, settings);
        CommonOptions.AddTo(command, hostSettings);
        command.SetAction(async (parse, cancellationToken) =>
        {
            var (options, level) = Resolve(parse, settings);
            var hostOptions = new ConnectorHostSettings();
            var configuration = CommonOptions.LoadConfiguration(parse);
            foreach (var s in hostSettings)
            {
                s.Apply(hostOptions, parse, configuration);
            }

            using var signals = new ShutdownSignals();
            using var host = Build(options, level, hostOptions);
            await host.StartAsync(signals.Stopping);
            await signals.WaitAsync(host.Services.GetRequiredService<IHostApplicationLifetime>().ApplicationStopping);
            await host.StopAsync(CancellationToken.None);
            return 0;
        });
        return command;
    }

    /// <summary>Applies the file, environment and flags, in that order of precedence, over the defaults; and <c>--inline-io</c> to the process.</summary>
    public static (ConnectorOptions Options, Microsoft.Extensions.Logging.LogLevel Level) Resolve(ParseResult parse, IEnumerable<Setting<ConnectorOptions>> settings)
    {
        var configuration = CommonOptions.LoadConfiguration(parse);
        var options = new ConnectorOptions();
        foreach (var s in settings)
        {
            s.Apply(options, parse, configuration);
        }

        CommonOptions.ConfigureProcessIo(parse, configuration);
        return (options, CommonOptions.LogLevel(parse, configuration));
    }

    public static IHost Build(ConnectorOptions options, Microsoft.Extensions.Logging.LogLevel logLevel, ConnectorHostSettings? hostSettings = null)
    {
        try
        {
            options.Validate();
        }
        catch (ArgumentException ex)
        {
            throw new UsageException(ex.Message);
        }

        if (hostSettings is { Admin.Count: > 0 })
        {
            return BuildWithAdmin(options, logLevel, hostSettings);
        }

        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { Args = [], DisableDefaults = true });
        CommonOptions.ConfigureLogging(builder.Logging, logLevel);
        builder.Configuration.AddOtelEnvironment();
        builder.Services.AddPutshTelemetry(ConnectorMeter.Name, ConnectorTracing.SourceName, prometheus: false);
        // The host must wait for the connector's own drain, which has its own bound.
        builder.Services.Configure<HostOptions>(h => h.ShutdownTimeout = options.ShutdownTimeout + TimeSpan.FromSeconds(15));
        ShutdownSignals.UseFor(builder.Services);
        builder.Services.AddSingleton(Options.Create(options));
        builder.Services.AddPutshConnector(options);
        var host = builder.Build();
        CliLog.IoMode(host.Services);
        return host;
    }

    /// <summary>The connector in a web host, for its admin listener (<see cref="ConnectorAdmin"/>).</summary>
    private static WebApplication BuildWithAdmin(ConnectorOptions options, Microsoft.Extensions.Logging.LogLevel logLevel, ConnectorHostSettings hostSettings)
    {
        AdminGuard.CheckBinding(hostSettings.Admin, hostSettings.AdminToken);
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [] });
        builder.Configuration.Sources.Clear();
        CommonOptions.ConfigureLogging(builder.Logging, logLevel);
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            ConnectorAdmin.Listen(kestrel, hostSettings.Admin);
        });
        builder.Services.Configure<HostOptions>(h => h.ShutdownTimeout = options.ShutdownTimeout + TimeSpan.FromSeconds(15));
        builder.Services.Configure<Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets.SocketTransportOptions>(HostStart.WatchBinds);
        ShutdownSignals.UseFor(builder.Services);
        builder.Services.AddSingleton(Options.Create(options));
        if (hostSettings.Time is { } time)
        {
            builder.Services.AddSingleton(time);
        }

        builder.Services.AddPutshConnector(options);
        builder.Configuration.AddOtelEnvironment();
        builder.Services.AddPutshTelemetry(ConnectorMeter.Name, ConnectorTracing.SourceName, prometheus: true, hostSettings.FrameworkMetrics);
        ConnectorAdmin.AddServices(builder.Services, hostSettings);
        var app = builder.Build();
        ConnectorAdmin.Map(app, hostSettings);
        app.Lifetime.ApplicationStarted.Register(() => CliLog.ConnectorAdminListening(app.Services, app.Urls));
        CliLog.IoMode(app.Services);
        return app;
    }
}
