using System.Diagnostics.Metrics;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Putsh.Connector;

// In the namespace of ASP.NET Core's and the Generic Host's own service extensions, so that it needs no extra using.
namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Runs putsh connectors inside a .NET Generic Host.</summary>
public static class PutshConnectorServiceCollectionExtensions
{
    /// <summary>
    /// Adds the host's connector (the <see cref="CrankerConnector"/> service), which starts with the host and stops
    /// gracefully (deregister, drain) with it. Calling it again adds <paramref name="configure"/> to the same
    /// connector's options; for more than one connector, give each a name. The options are checked when the host
    /// starts: a wrong one stops it with an <see cref="OptionsValidationException"/> naming it.
    /// </summary>
    public static IServiceCollection AddPutshConnector(this IServiceCollection services, Action<ConnectorOptions>? configure = null) =>
        Add(services, null, null, configure);

    /// <summary>
    /// Adds the host's connector with options bound from <paramref name="configuration"/> (keys are the property
    /// names of <see cref="ConnectorOptions"/>: <c>Routers</c>, <c>Route</c>, <c>Target</c>, ...; durations may be written
    /// <c>5s</c>, lists as <c>a,b</c>, and an unknown key stops the host at start), then <paramref name="configure"/>.
    /// See docs/configuration.md.
    /// </summary>
    public static IServiceCollection AddPutshConnector(this IServiceCollection services, IConfiguration configuration, Action<ConnectorOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        return Add(services, null, configuration, configure);
    }

    /// <summary>
    /// Adds the host's connector with options the caller has built and keeps (an executable that reads its own
    /// settings, say). They are checked here, at once; later changes to the instance are not seen.
    /// </summary>
    public static IServiceCollection AddPutshConnector(this IServiceCollection services, ConnectorOptions options)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        if (services.Any(d => d.ServiceType == typeof(ConnectorName) && Equals(d.ImplementationInstance, new ConnectorName(Options.Options.DefaultName))))
        {
            throw new InvalidOperationException("The host's connector is already added; give another connector a name.");
        }

        services.TryAddSingleton(TimeProvider.System);
        services.AddSingleton(new ConnectorName(Options.Options.DefaultName, Prebuilt: true));
        services.AddSingleton(sp => Create(sp, options));
        services.AddSingleton<IHostedService>(sp => new ConnectorHostedService(sp.GetRequiredService<CrankerConnector>()));
        return services;
    }

    /// <summary>
    /// Adds a named connector: a keyed <see cref="CrankerConnector"/> service (resolve it with
    /// <c>[FromKeyedServices("name")]</c> or <c>GetRequiredKeyedService</c>) with named options, started and stopped
    /// with the host. One host may run several, each with its own routers, route and target.
    /// </summary>
    public static IServiceCollection AddPutshConnector(this IServiceCollection services, string name, Action<ConnectorOptions> configure)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentNullException.ThrowIfNull(configure);
        return Add(services, name, null, configure);
    }

    /// <summary>Adds a named connector (see above) with options bound from <paramref name="configuration"/>, then <paramref name="configure"/>.</summary>
    public static IServiceCollection AddPutshConnector(this IServiceCollection services, string name, IConfiguration configuration, Action<ConnectorOptions>? configure = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentNullException.ThrowIfNull(configuration);
        return Add(services, name, configuration, configure);
    }

    private static IServiceCollection Add(IServiceCollection services, string? name, IConfiguration? configuration, Action<ConnectorOptions>? configure)
    {
        ArgumentNullException.ThrowIfNull(services);
        var optionsName = name ?? Options.Options.DefaultName;
        var builder = services.AddOptions<ConnectorOptions>(optionsName);
        if (configuration is not null)
        {
            builder.Configure(o => ConnectorOptionsBinding.Bind(configuration, o, optionsName));
            services.AddSingleton<IOptionsChangeTokenSource<ConnectorOptions>>(new ConfigurationChangeTokenSource<ConnectorOptions>(optionsName, configuration));
        }

        if (configure is not null)
        {
            builder.Configure(configure);
        }

        services.TryAddSingleton(TimeProvider.System);
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<ConnectorOptions>, ConnectorOptionsStartValidator>());

        // Once per connector, however often it is configured.
        if (services.FirstOrDefault(d => d.ServiceType == typeof(ConnectorName) && Equals(d.ImplementationInstance, new ConnectorName(optionsName))) is { } added)
        {
            return ((ConnectorName)added.ImplementationInstance!).Prebuilt
                ? throw new InvalidOperationException("The host's connector was added with a built ConnectorOptions, which cannot be configured further.")
                : services;
        }

        services.AddSingleton(new ConnectorName(optionsName));
        builder.ValidateOnStart();
        if (name is null)
        {
            services.TryAddSingleton(sp => Create(sp, sp.GetRequiredService<IOptions<ConnectorOptions>>().Value));
            services.AddSingleton<IHostedService>(sp => new ConnectorHostedService(sp.GetRequiredService<CrankerConnector>()));
        }
        else
        {
            services.AddKeyedSingleton(name, (sp, _) => Create(sp, sp.GetRequiredService<IOptionsMonitor<ConnectorOptions>>().Get(name)));
            services.AddSingleton<IHostedService>(sp => new ConnectorHostedService(sp.GetRequiredKeyedService<CrankerConnector>(name)));
        }

        return services;
    }

    private static CrankerConnector Create(IServiceProvider services, ConnectorOptions options) => new(
        options,
        services.GetRequiredService<ILoggerFactory>(),
        services.GetRequiredService<TimeProvider>(),
        services.GetService<IMeterFactory>());

    /// <summary>Marks a connector as added, so that adding it again only configures it.</summary>
    private sealed record ConnectorName(string Name, bool Prebuilt = false)
    {
        public bool Equals(ConnectorName? other) => other is not null && other.Name == Name;

        public override int GetHashCode() => Name.GetHashCode(StringComparison.Ordinal);
    }

    /// <summary><see cref="ConnectorOptions.Validate"/> as an options validator: a one-line message naming the connector.</summary>
    private sealed class ConnectorOptionsStartValidator(IEnumerable<ConnectorName> added) : IValidateOptions<ConnectorOptions>
    {
        public ValidateOptionsResult Validate(string? name, ConnectorOptions options)
        {
            // Only the connectors configured here: other named options (an in-process server's, say) have rules of
            // their own, and a built instance was checked when it was added.
            if (!added.Any(a => !a.Prebuilt && a.Name == (name ?? Options.Options.DefaultName)))
            {
                return ValidateOptionsResult.Skip;
            }

            try
            {
                options.Validate();
                return ValidateOptionsResult.Success;
            }
            catch (ArgumentException e)
            {
                return ValidateOptionsResult.Fail(string.IsNullOrEmpty(name) ? e.Message : $"Connector '{name}': {e.Message}");
            }
        }
    }

    private sealed class ConnectorHostedService(CrankerConnector connector) : IHostedService
    {
        public Task StartAsync(CancellationToken cancellationToken) => connector.StartAsync(cancellationToken);

        public Task StopAsync(CancellationToken cancellationToken) => connector.StopAsync(cancellationToken);
    }
}
