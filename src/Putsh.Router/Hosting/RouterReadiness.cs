using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Putsh.Router.Hosting;

/// <summary>
/// The router's readiness health check (tagged <see cref="RouterDrain.ReadyTag"/>): healthy while it runs, unhealthy from the moment it
/// begins to stop, so that a load balancer or Kubernetes takes it out of rotation during the drain delay.
/// </summary>
internal sealed class RouterReadiness(RouterDrain drain) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
        Task.FromResult(drain.IsReady
            ? HealthCheckResult.Healthy("serving")
            : HealthCheckResult.Unhealthy("draining: the router is stopping"));
}
