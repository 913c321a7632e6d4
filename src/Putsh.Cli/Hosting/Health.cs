using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.AspNetCore.Http;
using Putsh.Router.Hosting;

namespace Putsh.Cli.Hosting;

/// <summary>The admin listener's endpoints: liveness and readiness, in the shape Kubernetes probes expect.</summary>
internal static class Health
{
    /// <summary><c>/health/live</c>: 200 while the process runs; <c>/health/ready</c>: 503 from the moment it begins to stop.</summary>
    public static void UsePutshHealth(this IApplicationBuilder app)
    {
        app.UseHealthChecks("/health/live", new HealthCheckOptions { Predicate = _ => false });
        app.UseHealthChecks("/health/ready", new HealthCheckOptions { Predicate = c => c.Tags.Contains(RouterDrain.ReadyTag) });
        app.Run(context =>
        {
            context.Response.StatusCode = StatusCodes.Status404NotFound;
            return context.Response.WriteAsync("Not found: the admin listener serves / (the dashboard), /api/routes, /metrics, /health/live and /health/ready.\n");
        });
    }
}
