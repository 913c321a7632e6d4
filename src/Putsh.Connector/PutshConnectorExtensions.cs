using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Putsh.Connector;

/// <summary>Runs a putsh connector inside a .NET Generic Host.</summary>
public static class PutshConnectorExtensions
{
    /// <summary>Adds a connector that starts with the host and stops gracefully (deregister, drain) with it.</summary>
    public static IServiceCollection AddPutshConnector(this IServiceCollection services, Action<ConnectorOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        var builder = services.AddOptions<ConnectorOptions>();
        if (configure is not null)
        {
            builder.Configure(configure);
        }

        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton(sp => new CrankerConnector(
            sp.GetRequiredService<IOptions<ConnectorOptions>>().Value,
            sp.GetRequiredService<ILoggerFactory>(),
            sp.GetRequiredService<TimeProvider>(),
            sp.GetService<IMeterFactory>()));
        services.AddHostedService<ConnectorHostedService>();
        return services;
    }

    private sealed class ConnectorHostedService(CrankerConnector connector) : IHostedService
    {
        public Task StartAsync(CancellationToken cancellationToken) => connector.StartAsync(cancellationToken);

        public Task StopAsync(CancellationToken cancellationToken) => connector.StopAsync(cancellationToken);
    }
}
