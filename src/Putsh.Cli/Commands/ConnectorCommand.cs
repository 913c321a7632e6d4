using System.CommandLine;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Configuration;
using Putsh.Cli.Hosting;
using Putsh.Protocol.Configuration;
using Putsh.Connector;

namespace Putsh.Cli.Commands;

/// <summary><c>putsh connector</c>: putsh/b, the connector.</summary>
internal static class ConnectorCommand
{
    /// <summary>The connector's settings: <see cref="ConnectorOptions"/> and its process's (<see cref="ConnectorHostSettings"/>).</summary>
    public static readonly SettingsShape Shape = SettingsShape.Of<ConnectorOptions>().And<ConnectorHostSettings>();

    public static SettingTable Settings() =>
        new SettingTable("Connector", Shape, new ConnectorOptions(), new ConnectorHostSettings())
            .Add("Routers", "o: router registration address(es), ws://host:port or wss://host:port; repeat for several routers", defaultText: "required", was: "Router")
            .Add("Route", "route served: the first path segment of its requests, or * for everything", defaultText: "required unless --tcp-route")
            .Add("Target", "p: the backend, http://host:port or https://host:port", defaultText: "required with --route")
            .Add("TcpRoute", "TCP route served (putsh tcp extension, cranker_3.0): a router's --tcp-listen name; repeat for several, each with its --tcp-target")
            .Add("TcpTarget", "host:port the TCP route of the same position connects each of its connections to")
            .Add("Domain", "host name served (cranker_3.0 routers only)")
            .Add("Protocols", "Cranker versions offered, most preferred first; the router picks")
            .Add("Sockets", "idle sockets kept open to each router")
            .Add("ComponentName", "name shown in routers' diagnostics")
            .Add("InstanceId", "id shared by all this connector's sockets", defaultText: "a new UUID")
            .Add("PingInterval", "WebSocket ping interval towards routers")
            .Add("SilenceTimeout", "drop and replace a socket whose pings go unanswered this long")
            .Add("ConnectTimeout", "time allowed to open one socket to a router")
            .Add("TargetProtocol", "HTTP version to the target: auto (HTTP/2 by ALPN on https, else HTTP/1.1), http1, or http2 (h2c prior knowledge on http://, as gRPC needs)")
            .Add("TargetHealth", "path on the target polled with GET (e.g. /healthz): after two failed checks the connector deregisters (dark mode) until one passes")
            .Add("TargetHealthInterval", "how often --target-health is polled, and how long a check may take")
            .Add("TargetConnectTimeout", "time allowed to connect to the target for one request (502 after it)")
            .Add("ReconnectInitialDelay", "first wait before reconnecting to a router, doubled (with jitter) up to --reconnect-max-delay")
            .Add("ReconnectMaxDelay", "longest wait between reconnection attempts (exponential, with jitter, from --reconnect-initial-delay)")
            .Add("RouterRefreshInterval", "how often router host names are resolved again (one router per address)")
            .Add("ShutdownTimeout", "on SIGTERM or Ctrl-C, how long requests in flight may take to finish")
            .Add("TrustedCaFile", "PEM file of extra CA certificates to trust for wss:// routers and an https:// target", was: "TrustedCa")
            .Add("Token", "registration token sent to routers as Authorization: Bearer (prefer --token-file or PUTSH_Connector__Token: arguments are visible to other users)")
            .Add("TokenFile", "file whose first line is the registration token; read again when it changes")
            .Add("ClientCertificateFile", "PEM client certificate for wss:// routers that require one (mTLS)", was: "ClientCert")
            .Add("ClientKeyFile", "PEM private key of --client-certificate-file", was: "ClientKey")
            .Add("PreserveHost", "send the client's Host header to the backend")
            .Add("WebSockets", "carry client WebSockets to the backend where the router agrees (putsh extension, cranker_3.0)")
            .Add("Trailers", "carry te: trailers to the backend and its response trailers (gRPC status) back, where the router agrees (putsh extension, cranker_3.0)")
            .Add("FlowWindow", "per-stream flow-control window in bytes offered to putsh routers (putsh extension, cranker_3.0); 0 keeps Cranker's 64 KiB")
            .Add("AcknowledgeHeads", "acknowledge each request head on receipt, so a router can retry elsewhere what a killed connector never took; false offers no-head-ack beside --flow-window (one message fewer per request)")
            .Add("MaxRequestHeadSize", "longest cranker_3.0 request head accepted from a router, in characters; a longer one resets its stream (1011)")
            .Add("MaxRouterMessageSize", "largest cranker_3.0 message accepted from a router, in bytes; larger closes its socket with 1009")
            .Add("MaxStrayMessages", "messages a router may send on a cranker_3.0 socket for streams the connector does not have (plus 64 per stream ended) before it is closed with 1002")
            .Add("BodyBufferSize", "bytes read from the backend at a time, and so the largest body message sent to a router (1024-65536)")
            .Add("Admin", "address(es) serving /metrics (Prometheus), /health/live, /health/ready and /api/connector, e.g. http://127.0.0.1:9092; other than loopback only with --admin-token")
            .Add("AdminToken", "bearer token the admin listener requires of everything but /health/* (prefer PUTSH_Connector__AdminToken: arguments are visible to other users)")
            .Add("FrameworkMetrics", "also export HttpClient's per-request meters (http.client.*; more CPU per request); the runtime's are always exported")
            .Add("ReadyWhen", "/health/ready once registered with any router, or with all of them")
            .Add("TargetUnhealthyAfter", "/health/ready fails once every call to the target has failed this long (0 to never)")
            .Complete();

    public static Command Create()
    {
        var settings = Settings();
        var command = new Command("connector", "putsh/b, the connector: dials the routers (o) and serves their requests from the backend (p).");
        CommonOptions.AddTo(command, settings);
        command.SetAction(async (parse, cancellationToken) =>
        {
            var hostOptions = new ConnectorHostSettings();
            var (options, level) = Resolve(parse, settings, hostOptions);
            using var signals = new ShutdownSignals();
            using var host = Build(options, level, hostOptions);
            await host.StartAsync(signals.Stopping);
            using var reload = new ConfigurationReload(CommonOptions.Config, parse, host.Services, () =>
            {
                var level = CommonOptions.LogLevel(parse, CommonOptions.LoadConfiguration(parse, settings).Common);
                host.Services.GetRequiredService<LogLevelSwitch>().Set(level);
                return $"log level {level} (the connector's other settings need a restart)";
            });
            await signals.WaitAsync(host.Services.GetRequiredService<IHostApplicationLifetime>().ApplicationStopping);
            await host.StopAsync(CancellationToken.None);
            return 0;
        });
        return command;
    }

    /// <summary>Applies the file, environment and flags, in that order of precedence, over the defaults; and <c>--inline-io</c> to the process.</summary>
    public static (ConnectorOptions Options, Microsoft.Extensions.Logging.LogLevel Level) Resolve(ParseResult parse, SettingTable settings, ConnectorHostSettings? hostSettings = null)
    {
        var configuration = CommonOptions.LoadConfiguration(parse, settings);
        var options = new ConnectorOptions();
        Bind(configuration.Section(settings), options, hostSettings ?? new ConnectorHostSettings());
        CommonOptions.ConfigureProcessIo(parse, configuration.Common);
        return (options, CommonOptions.LogLevel(parse, configuration.Common));
    }

    /// <summary>Binds the connector's section onto its two options objects with the source-generated binder.</summary>
    public static void Bind(CliConfiguration.Bindable section, ConnectorOptions options, ConnectorHostSettings hostSettings)
    {
        section.Prepare(options);
        section.Prepare(hostSettings);
        section.Configuration.Bind(options);
        section.Configuration.Bind(hostSettings);
        section.Finish(options);
        section.Finish(hostSettings);
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
