using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;

namespace Putsh.Cli.Hosting;

/// <summary>
/// The executable's metrics export, through the OpenTelemetry .NET SDK: Prometheus text at <c>/metrics</c> on the
/// admin listener, and OTLP when the standard <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> is set (the exporter reads the
/// other <c>OTEL_*</c> variables itself), spans included. Besides putsh's own meter, the meters ASP.NET Core, Kestrel,
/// HttpClient and the runtime publish. With neither export, no SDK is set up and instruments and spans cost nothing.
/// </summary>
internal static class Telemetry
{
    /// <summary>The framework meters always exported alongside putsh's: per connection, or read only when collected.</summary>
    public static readonly string[] FrameworkMeters =
    [
        "Microsoft.AspNetCore.Server.Kestrel",
        "System.Net.NameResolution",
        "System.Runtime",
    ];

    /// <summary>
    /// The framework meters that record on every request (<c>http.server.*</c>, <c>http.client.*</c>), exported only
    /// when asked: on the bench rig they added about a quarter to router + connector CPU per small request, where
    /// putsh's own instruments stayed within noise (bench/run.sh putsh-v3 putsh-v3-metrics putsh-v3-metrics-own).
    /// </summary>
    public static readonly string[] PerRequestFrameworkMeters =
    [
        "Microsoft.AspNetCore.Hosting",
        "System.Net.Http",
    ];

    /// <summary>
    /// The standard <c>OTEL_*</c> environment variables, under their own names, for the SDK's exporters: putsh's hosts
    /// read no environment into their configuration otherwise (their settings have their own sources).
    /// </summary>
    public static void AddOtelEnvironment(this Microsoft.Extensions.Configuration.IConfigurationBuilder configuration)
    {
        var otel = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
        foreach (System.Collections.DictionaryEntry e in Environment.GetEnvironmentVariables())
        {
            if (e.Key is string name && name.StartsWith("OTEL_", StringComparison.OrdinalIgnoreCase))
            {
                otel[name] = e.Value as string;
            }
        }

        if (otel.Count > 0)
        {
            Microsoft.Extensions.Configuration.MemoryConfigurationBuilderExtensions.AddInMemoryCollection(configuration, otel);
        }
    }

    public static bool OtlpConfigured => !string.IsNullOrWhiteSpace(Environment.GetEnvironmentVariable("OTEL_EXPORTER_OTLP_ENDPOINT"));

    /// <summary>
    /// Sets up the export of <paramref name="meter"/> and the framework meters, if there is anywhere to export them; and,
    /// with OTLP, of the spans of <paramref name="activitySource"/>, ASP.NET Core and HttpClient. The per-request
    /// framework meters (<see cref="PerRequestFrameworkMeters"/>) go out only with <paramref name="framework"/>.
    /// </summary>
    /// <returns>Whether the Prometheus endpoint is to be served.</returns>
    public static bool AddPutshTelemetry(this IServiceCollection services, string meter, string activitySource, bool prometheus, bool framework = false)
    {
        var otlp = OtlpConfigured;
        if (!prometheus && !otlp)
        {
            return false;
        }

        var telemetry = services.AddOpenTelemetry().WithMetrics(metrics =>
        {
            metrics.AddMeter(meter).AddMeter(FrameworkMeters);
            if (framework)
            {
                metrics.AddMeter(PerRequestFrameworkMeters);
            }
            if (prometheus)
            {
                metrics.AddPrometheusExporter();
            }

            if (otlp)
            {
                metrics.AddOtlpExporter();
            }
        });
        if (otlp)
        {
            telemetry.WithTracing(tracing => tracing.AddSource(activitySource, "Microsoft.AspNetCore", "System.Net.Http").AddOtlpExporter());
        }

        return prometheus;
    }
}
