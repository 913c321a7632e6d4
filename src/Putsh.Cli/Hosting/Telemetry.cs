using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry.Metrics;

namespace Putsh.Cli.Hosting;

/// <summary>
/// The executable's metrics export, through the OpenTelemetry .NET SDK: Prometheus text at <c>/metrics</c> on the
/// admin listener, and OTLP when the standard <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> is set (the exporter reads the
/// other <c>OTEL_*</c> variables itself). Besides putsh's own meter, the meters ASP.NET Core, Kestrel, HttpClient and
/// the runtime publish. With neither export, no SDK is set up and instruments cost nothing.
/// </summary>
internal static class Telemetry
{
    /// <summary>The framework meters exported alongside putsh's.</summary>
    public static readonly string[] FrameworkMeters =
    [
        "Microsoft.AspNetCore.Hosting",
        "Microsoft.AspNetCore.Server.Kestrel",
        "Microsoft.AspNetCore.Http.Connections",
        "System.Net.Http",
        "System.Net.NameResolution",
        "System.Runtime",
    ];

    public static bool OtlpConfigured => !string.IsNullOrWhiteSpace(Environment.GetEnvironmentVariable("OTEL_EXPORTER_OTLP_ENDPOINT"));

    /// <summary>Sets up the export of <paramref name="meter"/> and the framework meters, if there is anywhere to export them.</summary>
    /// <returns>Whether the Prometheus endpoint is to be served.</returns>
    public static bool AddPutshMetrics(this IServiceCollection services, string meter, bool prometheus)
    {
        var otlp = OtlpConfigured;
        if (!prometheus && !otlp)
        {
            return false;
        }

        services.AddOpenTelemetry().WithMetrics(metrics =>
        {
            metrics.AddMeter(meter).AddMeter(FrameworkMeters);
            if (prometheus)
            {
                metrics.AddPrometheusExporter();
            }

            if (otlp)
            {
                metrics.AddOtlpExporter();
            }
        });
        return prometheus;
    }
}
