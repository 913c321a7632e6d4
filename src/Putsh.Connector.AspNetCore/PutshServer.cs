using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Putsh.Connector.AspNetCore;

/// <summary>
/// An <see cref="IServer"/> with no listening port: a <see cref="CrankerConnector"/> whose in-process handler runs
/// every request that arrives through the routers through the application's pipeline, as Kestrel would.
/// </summary>
internal sealed partial class PutshServer : IServer, IAsyncDisposable, IPutshConnectorFeature
{
    /// <summary>The name of the <see cref="ConnectorOptions"/> instance configured by <c>UsePutshConnector</c>.</summary>
    internal const string OptionsName = "Putsh.Connector.AspNetCore";

    private readonly ConnectorOptions _options;
    private readonly ILoggerFactory _loggerFactory;
    private readonly ILogger _logger;
    private readonly Lock _lock = new();
    private CrankerConnector? _connector;
    private bool _disposed;

    public PutshServer(IOptionsMonitor<ConnectorOptions> options, ILoggerFactory loggerFactory)
    {
        _options = options.Get(OptionsName);
        _loggerFactory = loggerFactory;
        _logger = loggerFactory.CreateLogger("Putsh.Connector.AspNetCore");

        // No addresses, and a read-only list, so that the host adds none from ASPNETCORE_URLS or --urls.
        Features.Set<IServerAddressesFeature>(new NoAddresses());
    }

    public IFeatureCollection Features { get; } = new FeatureCollection();

    public CrankerConnector Connector => _connector ?? throw new InvalidOperationException("The putsh server has not started.");

    public async Task StartAsync<TContext>(IHttpApplication<TContext> application, CancellationToken cancellationToken)
        where TContext : notnull
    {
        ArgumentNullException.ThrowIfNull(application);
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_connector is not null)
            {
                throw new InvalidOperationException("The putsh server was already started.");
            }

            _options.Handler = (request, channel) =>
            {
                // Off the connector's receive loop, and without its execution context, as Kestrel dispatches requests.
                using (ExecutionContext.SuppressFlow())
                {
                    return Task.Run(() => new PutshRequest(request, channel, _logger).RunAsync(application));
                }
            };
            _connector = new CrankerConnector(_options, _loggerFactory);
        }

        await _connector.StartAsync(cancellationToken).ConfigureAwait(false);
        Features.Set<IPutshConnectorFeature>(this);
        Log.Started(_logger, _options.Route, string.Join(", ", _options.Routers));
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        CrankerConnector? connector;
        lock (_lock)
        {
            connector = _connector;
        }

        if (connector is null)
        {
            return;
        }

        try
        {
            // Deregister, then let requests in flight finish (ShutdownTimeout, or the host's own shutdown timeout).
            await connector.StopAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            Log.StopCut(_logger);
        }
        finally
        {
            await DisposeAsync().ConfigureAwait(false);
        }
    }

    public async ValueTask DisposeAsync()
    {
        CrankerConnector? connector;
        lock (_lock)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            connector = _connector;
        }

        if (connector is not null)
        {
            await connector.DisposeAsync().ConfigureAwait(false);
        }
    }

    public void Dispose() => DisposeAsync().AsTask().GetAwaiter().GetResult();

    private sealed class NoAddresses : IServerAddressesFeature
    {
        public ICollection<string> Addresses { get; } = Array.Empty<string>();

        public bool PreferHostingUrls { get; set; }
    }

    private static partial class Log
    {
        [LoggerMessage(3000, LogLevel.Information, "Serving route '{Route}' through router(s) {Routers}; no listening port.")]
        public static partial void Started(ILogger logger, string route, string routers);

        [LoggerMessage(3001, LogLevel.Warning, "The host's shutdown timeout cut requests in flight short.")]
        public static partial void StopCut(ILogger logger);
    }
}
