using System.Net;
using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Putsh.Connector;

namespace Putsh.Cli.Hosting;

/// <summary>The connector executable's settings that are about its process, not the connector: its admin listener.</summary>
internal sealed class ConnectorHostSettings
{
    /// <summary>Addresses serving <c>/metrics</c>, <c>/health/*</c> and <c>/api/connector</c>; none by default.</summary>
    public List<string> Admin { get; set; } = [];

    /// <summary>Bearer token the admin listener requires (health probes excepted); required where it is not loopback.</summary>
    public string? AdminToken { get; set; }

    /// <summary>Also export HttpClient's per-request meters (the runtime's always go).</summary>
    public bool FrameworkMetrics { get; set; }

    /// <summary>Ready once registered with any router, or only with all of them.</summary>
    public ReadyWhen ReadyWhen { get; set; }

    /// <summary>Ready once registered with every router rather than with at least one.</summary>
    public bool ReadyWhenAllRouters => ReadyWhen == ReadyWhen.All;

    /// <summary>Not ready once every call to the target has failed for this long; zero turns the check off.</summary>
    public TimeSpan TargetUnhealthyAfter { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>The clock for the connector and its checks; the system clock when null (tests give a fake one).</summary>
// A field, not a property, so that the configuration binder passes it by.
    public TimeProvider? Time;
}

/// <summary>When a connector reports itself ready.</summary>
internal enum ReadyWhen
{
    /// <summary>Registered with at least one router.</summary>
    Any,

    /// <summary>Registered with every router it knows.</summary>
    All,
}

/// <summary>
/// The connector's admin listener: Prometheus <c>/metrics</c>, <c>/health/live</c> (the process runs),
/// <c>/health/ready</c> (registered with a router, or with all of them, and the target not failing every call for
/// <see cref="ConnectorHostSettings.TargetUnhealthyAfter"/>), and <c>GET /api/connector</c>: its routers, their
/// sockets and last errors, as JSON.
/// </summary>
internal static class ConnectorAdmin
{
    private const string ReadyTag = "ready";

    public static void Listen(Microsoft.AspNetCore.Server.Kestrel.Core.KestrelServerOptions kestrel, IEnumerable<string> urls)
    {
        foreach (var url in urls)
        {
            if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || uri.Scheme != Uri.UriSchemeHttp)
            {
                throw new UsageException($"--admin {url}: expected http://host:port (for example http://127.0.0.1:9092).");
            }

            var host = uri.Host.Trim('[', ']');
            if (host == "localhost")
            {
                kestrel.ListenLocalhost(uri.Port);
            }
            else if (IPAddress.TryParse(host, out var address))
            {
                kestrel.Listen(address, uri.Port);
            }
            else
            {
                throw new UsageException($"--admin {url}: give an IP address or localhost.");
            }
        }
    }

    public static void AddServices(IServiceCollection services, ConnectorHostSettings settings)
    {
        services.AddHealthChecks()
            .Add(new HealthCheckRegistration("putsh-connector-registered", sp => new RegisteredCheck(sp.GetRequiredService<CrankerConnector>(), settings.ReadyWhenAllRouters), null, [ReadyTag]))
            .Add(new HealthCheckRegistration("putsh-connector-target", sp => new TargetCheck(sp.GetRequiredService<CrankerConnector>(), settings.TargetUnhealthyAfter), null, [ReadyTag]));
    }

    public static void Map(WebApplication app, ConnectorHostSettings settings)
    {
        app.UseAdminToken(settings.AdminToken);
        app.UseOpenTelemetryPrometheusScrapingEndpoint("/metrics");
        app.UseHealthChecks("/health/live", new HealthCheckOptions { Predicate = _ => false });
        app.UseHealthChecks("/health/ready", new HealthCheckOptions { Predicate = c => c.Tags.Contains(ReadyTag), ResponseWriter = WriteReadinessAsync });
        var connector = app.Services.GetRequiredService<CrankerConnector>();
        app.Run(context =>
        {
            if (context.Request.Path == "/api/connector" && HttpMethods.IsGet(context.Request.Method))
            {
                context.Response.Headers.CacheControl = "no-store";
                var state = new ConnectorAdminState(1, connector.InstanceId, connector.TargetFailingFor?.TotalSeconds, connector.Routers);
                return context.Response.WriteAsJsonAsync(state, ConnectorAdminJson.Default.ConnectorAdminState);
            }

            context.Response.StatusCode = StatusCodes.Status404NotFound;
            return context.Response.WriteAsync("Not found: the connector's admin listener serves /metrics, /health/live, /health/ready and /api/connector.\n");
        });
    }

    /// <summary>Readiness as one line per check, so that a probe's log says why.</summary>
    private static Task WriteReadinessAsync(HttpContext context, HealthReport report)
    {
        context.Response.ContentType = "text/plain; charset=utf-8";
        var lines = string.Join("\n", report.Entries.Select(e => $"{e.Key}: {e.Value.Status}{(e.Value.Description is { } d ? " (" + d + ")" : "")}"));
        return context.Response.WriteAsync(report.Status + "\n" + lines + "\n");
    }

    private sealed class RegisteredCheck(CrankerConnector connector, bool all) : IHealthCheck
    {
        public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
        {
            var routers = connector.Routers;
            var registered = routers.Count(r => r.IdleSockets + r.BusySockets > 0);
            var ok = all ? routers.Count > 0 && registered == routers.Count : registered > 0;
            var description = $"registered with {registered} of {routers.Count} routers";
            return Task.FromResult(ok ? HealthCheckResult.Healthy(description) : HealthCheckResult.Unhealthy(description));
        }
    }

    private sealed class TargetCheck(CrankerConnector connector, TimeSpan limit) : IHealthCheck
    {
        public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
        {
            if (limit > TimeSpan.Zero && connector.TargetFailingFor is { } failing && failing >= limit)
            {
                return Task.FromResult(HealthCheckResult.Unhealthy($"every target call has failed for {(long)failing.TotalSeconds} s"));
            }

            return Task.FromResult(HealthCheckResult.Healthy(connector.TargetFailingFor is { } f ? $"target calls failing for {(long)f.TotalSeconds} s" : "target answering"));
        }
    }
}

/// <summary><c>GET /api/connector</c> on the connector's admin listener (docs/state-api.md).</summary>
/// <param name="Version">The shape's version: 1.</param>
/// <param name="InstanceId">The id the connector registers under.</param>
/// <param name="TargetFailingForSeconds">How long every target call has failed; null while the last one succeeded.</param>
/// <param name="Routers">Each router: its sockets idle and busy, consecutive failures, last error and protocol.</param>
internal sealed record ConnectorAdminState(int Version, string InstanceId, double? TargetFailingForSeconds, IReadOnlyList<RouterStatus> Routers);

[JsonSourceGenerationOptions(System.Text.Json.JsonSerializerDefaults.Web)]
[JsonSerializable(typeof(ConnectorAdminState))]
internal sealed partial class ConnectorAdminJson : JsonSerializerContext;
