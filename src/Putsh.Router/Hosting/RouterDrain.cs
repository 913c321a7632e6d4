using System.Net.WebSockets;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Putsh.Router.Routing;

namespace Putsh.Router.Hosting;

/// <summary>
/// The router's part in a graceful stop, run by the host before Kestrel stops:
/// <list type="number">
/// <item>report not ready (<see cref="IsReady"/>, the <c>ready</c> health check) and keep serving for
/// <see cref="RouterOptions.DrainDelay"/>, so that a load balancer in front stops sending;</item>
/// <item>stop the server listening (Kestrel closes idle client connections, and the others as their requests end);</item>
/// <item>once no client connection and no proxied request is left, or <see cref="RouterOptions.ShutdownTimeout"/> has
/// passed, close every connector socket with 1001 so that connectors move to the other routers at once.</item>
/// </list>
/// Routes stay routable throughout: a request that arrives while the router drains is served.
/// </summary>
public sealed class RouterDrain : IHostedLifecycleService
{
    /// <summary>The health-check tag of the router's readiness check: map it to a readiness probe.</summary>
    public const string ReadyTag = "ready";

    private readonly RouteTable _table;
    private readonly RouterOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly TaskCompletionSource _idle = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _clientConnections;
    private int _requests;
    private volatile bool _draining;
    private volatile bool _closingToClients;
    private readonly IServer? _server;

    internal RouterDrain(RouteTable table, IOptions<RouterOptions> options, TimeProvider time, ILogger<RouterDrain> logger, IServer? server)
    {
        _server = server;
        _table = table;
        _options = options.Value;
        _time = time;
        _logger = logger;
    }

    /// <summary>False from the moment the host begins to stop: the router still serves, but wants no new traffic.</summary>
    public bool IsReady => !_draining;

    /// <summary>True once the drain delay is over: new client connections are refused.</summary>
    public bool RefusesClients => _closingToClients;

    /// <summary>Client connections open now, counted by <see cref="ClientConnectionTracking"/> where it is installed.</summary>
    public int ClientConnections => Volatile.Read(ref _clientConnections);

    /// <summary>Proxied requests in flight now.</summary>
    public int RequestsInFlight => Volatile.Read(ref _requests);

    internal void ConnectionOpened() => Interlocked.Increment(ref _clientConnections);

    internal void ConnectionClosed()
    {
        Interlocked.Decrement(ref _clientConnections);
        CheckIdle();
    }

    internal void RequestStarted() => Interlocked.Increment(ref _requests);

    internal void RequestEnded()
    {
        Interlocked.Decrement(ref _requests);
        CheckIdle();
    }

    private void CheckIdle()
    {
        if (_closingToClients && ClientConnections <= 0 && RequestsInFlight <= 0)
        {
            _idle.TrySetResult();
        }
    }

    Task IHostedService.StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    Task IHostedLifecycleService.StartingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    Task IHostedLifecycleService.StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>
    /// The whole drain, run before any hosted service stops (the server among them, which ASP.NET Core starts last
    /// and so stops first): it must not stop before the drain delay, and must stop listening before the wait.
    /// </summary>
    async Task IHostedLifecycleService.StoppingAsync(CancellationToken cancellationToken)
    {
        _draining = true;
        RouterLog.Draining(_logger, _options.DrainDelay, _options.ShutdownTimeout, ClientConnections, RequestsInFlight);
        if (_options.DrainDelay > TimeSpan.Zero)
        {
            try
            {
                await Task.Delay(_options.DrainDelay, _time, cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
            }
        }

        _closingToClients = true;
        CheckIdle();

        // Kestrel stops listening and asks every connection to close once its request is done (a GOAWAY on HTTP/2);
        // connector sockets are upgraded connections it cannot close, so it waits for them: they are closed below,
        // once no client needs them. Its later StopAsync from the host only waits for this one.
        using var abortLeftovers = new CancellationTokenSource(_options.ShutdownTimeout + TimeSpan.FromSeconds(5), _time);
        var serverStopped = _server?.StopAsync(abortLeftovers.Token) ?? Task.CompletedTask;
        await CloseConnectorsWhenIdleAsync().ConfigureAwait(false);
        try
        {
            await serverStopped.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
    }

    Task IHostedService.StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    Task IHostedLifecycleService.StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    private async Task CloseConnectorsWhenIdleAsync()
    {
        var started = _time.GetTimestamp();
        var timedOut = false;
        try
        {
            await _idle.Task.WaitAsync(_options.ShutdownTimeout, _time).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            timedOut = true;
        }

        var v1 = _table.V1Pools.SelectMany(p => p.RemoveAll()).ToList();
        var v3 = _table.V3Pools.SelectMany(p => p.RemoveAll()).ToList();
        RouterLog.Drained(_logger, _time.GetElapsedTime(started), timedOut, RequestsInFlight, v1.Count + v3.Count);
        var closes = new List<Task>(v1.Count + v3.Count);
        closes.AddRange(v1.Select(s => s.CloseAsync(WebSocketCloseStatus.EndpointUnavailable, "Router shutting down")));
        closes.AddRange(v3.Select(s => s.CloseAsync(WebSocketCloseStatus.EndpointUnavailable, "Router shutting down")));
        try
        {
            await Task.WhenAll(closes).ConfigureAwait(false);
        }
        catch (Exception)
        {
            // A socket that cannot close cleanly is aborted by its own close; nothing more to do here.
        }
    }
}
