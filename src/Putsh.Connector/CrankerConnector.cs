using System.Diagnostics.Metrics;
using System.Net;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Putsh.Connector.Forwarding;
using Putsh.Connector.Pool;

namespace Putsh.Connector;

/// <summary>The state of one router registration, for diagnostics.</summary>
/// <param name="Router">The router, with the address dialled when its name resolved to several.</param>
/// <param name="IdleSockets">Sockets open and waiting for a request.</param>
/// <param name="BusySockets">Sockets carrying a request.</param>
/// <param name="ConsecutiveFailures">Failed connection attempts since the last success.</param>
/// <param name="LastError">Why the last attempt failed, if it did.</param>
/// <param name="Protocol">The protocol the router chose, once connected.</param>
public sealed record RouterStatus(string Router, int IdleSockets, int BusySockets, int ConsecutiveFailures, string? LastError, string? Protocol);

/// <summary>
/// A Cranker connector: registers with every configured router, keeps a window of sockets open to each, and
/// serves the requests that arrive on them from <see cref="ConnectorOptions.Target"/>.
/// </summary>
public sealed class CrankerConnector : IAsyncDisposable
{
    private readonly ConnectorOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly TargetClient _target;
    private readonly Dictionary<string, RouterRegistration> _registrations = new(StringComparer.Ordinal);
    private readonly Lock _lock = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly X509Certificate2Collection? _extraRoots;
    private readonly RegistrationCredentials _credentials;
    private readonly TcpService[] _tcp;
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Task _refreshLoop = Task.CompletedTask;
    private Task _healthLoop = Task.CompletedTask;
    private volatile bool _dark;
    private int _healthChecks;
    private int _started;

    /// <summary>Creates a connector; nothing is dialled until <see cref="StartAsync"/>.</summary>
    /// <param name="options">What to register, where, and how to serve it.</param>
    /// <param name="loggerFactory">Where the connector logs; nowhere when null.</param>
    /// <param name="timeProvider">The clock for timeouts, backoff and durations; the system clock when null.</param>
    /// <param name="meterFactory">
    /// Creates the connector's <see cref="ConnectorMeter.Name"/> meter (and owns it); when null the connector creates
    /// its own meter and disposes it with itself.
    /// </param>
    /// <exception cref="ArgumentException">The options are invalid; the message says which one and why.</exception>
    public CrankerConnector(ConnectorOptions options, ILoggerFactory? loggerFactory = null, TimeProvider? timeProvider = null, IMeterFactory? meterFactory = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _options = options;
        _time = timeProvider ?? TimeProvider.System;
        _logger = (loggerFactory ?? NullLoggerFactory.Instance).CreateLogger("Putsh.Connector");
        if (options.TrustedCaFile is not null)
        {
            _extraRoots = ConnectorOptions.LoadTrustedCa(options.TrustedCaFile);
        }

        _target = new TargetClient(options, extraRoots: _extraRoots);
        Metrics = new ConnectorMetrics(meterFactory, _time, ObserveSockets);

        _credentials = new RegistrationCredentials(options, _time, _logger);
        _tcp = new TcpService[options.TcpRoute.Count];
        for (var i = 0; i < _tcp.Length; i++)
        {
            if (!ConnectorOptions.TryParseTcpTarget(options.TcpTarget[i], out var host, out var port))
            {
                throw new ArgumentException($"TCP target '{options.TcpTarget[i]}' is not host:port.");
            }

            _tcp[i] = new TcpService(options.TcpRoute[i], host, port);
        }
    }

    /// <summary>How router host names are resolved (§1.10); tests replace it to simulate DNS changes.</summary>
    internal Func<string, CancellationToken, Task<IPAddress[]>> ResolveHost { get; set; } = Dns.GetHostAddressesAsync;

    private Func<string, CancellationToken, Task<IPAddress[]>> Resolver => _options.HostResolver ?? ResolveHost;

    /// <summary>The connector's instruments and their meter.</summary>
    internal ConnectorMetrics Metrics { get; }

    /// <summary>
    /// How long every call to the target has failed (a transport error, a timeout or a 5xx answer), counted from the
    /// first failure after a success; null while the last call succeeded or before any call. For health checks.
    /// </summary>
    public TimeSpan? TargetFailingFor => Metrics.Target.FailingFor;

    /// <summary>The id this connector registers under.</summary>
    public string InstanceId => _options.InstanceId;

    /// <summary>A snapshot of every router registration.</summary>
    public IReadOnlyList<RouterStatus> Routers
    {
        get
        {
            lock (_lock)
            {
                return _registrations.Values
                    .Select(r => new RouterStatus(r.Endpoint.Name, r.IdleSockets, r.BusySockets, r.ConsecutiveFailures, r.LastError, r.Protocol))
                    .ToList();
            }
        }
    }

    /// <summary>Resolves the routers and starts registering with them. Returns once dialling has begun.</summary>
    public async Task StartAsync(CancellationToken cancellationToken = default)
    {
        if (Interlocked.Exchange(ref _started, 1) != 0)
        {
            throw new InvalidOperationException("The connector was already started.");
        }

        await RefreshAsync(cancellationToken).ConfigureAwait(false);
        _refreshLoop = RefreshLoopAsync(_stop.Token);
        if (_options.TargetHealth is not null)
        {
            _healthLoop = HealthLoopAsync(_stop.Token);
        }
    }

    /// <summary>
    /// Waits until every router has at least <paramref name="idleSocketsPerRouter"/> idle sockets. For tests and
    /// for hosts that want to report readiness.
    /// </summary>
    public async Task WaitForIdleSocketsAsync(int idleSocketsPerRouter, CancellationToken cancellationToken)
    {
        while (true)
        {
            Task changed;
            lock (_lock)
            {
                changed = _changed.Task;
                if (_registrations.Count > 0 && _registrations.Values.All(r => r.IdleSockets >= idleSocketsPerRouter))
                {
                    return;
                }
            }

            await changed.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Graceful stop (§1.9): deregisters from every router, lets requests in flight finish for up to
    /// <see cref="ConnectorOptions.ShutdownTimeout"/>, then closes every socket. True when nothing had to be cut off.
    /// </summary>
    public async Task<bool> StopAsync(CancellationToken cancellationToken = default)
    {
        if (Interlocked.Exchange(ref _started, 2) != 1)
        {
            return false;
        }

        await _stop.CancelAsync().ConfigureAwait(false);
        await _refreshLoop.ConfigureAwait(false);
        await _healthLoop.ConfigureAwait(false);
        RouterRegistration[] all;
        lock (_lock)
        {
            all = [.. _registrations.Values];
        }

        ConnectorLog.Stopping(_logger, all.Length, _options.ShutdownTimeout, all.Sum(r => r.BusySockets));
        var results = await Task.WhenAll(all.Select(r => r.StopAsync(_options.ShutdownTimeout))).WaitAsync(cancellationToken).ConfigureAwait(false);
        var clean = results.All(x => x);
        if (!clean)
        {
            ConnectorLog.StopTimedOut(_logger, all.Sum(r => r.BusySockets));
        }

        return clean;
    }

    private async Task RefreshLoopAsync(CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(_options.RouterRefreshInterval, _time);
        try
        {
            while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false))
            {
                await RefreshAsync(cancellationToken).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>Resolves every configured router and starts or stops registrations to match (§1.10).</summary>
    private async Task RefreshAsync(CancellationToken cancellationToken)
    {
        var wanted = new Dictionary<string, (RouterEndpoint Endpoint, string Configured)>(StringComparer.Ordinal);
        var failedHosts = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach (var configured in _options.Routers)
        {
            var uri = new Uri(configured);
            if (IPAddress.TryParse(uri.IdnHost.Trim('[', ']'), out _))
            {
                var endpoint = new RouterEndpoint(uri, null);
                wanted[endpoint.Name] = (endpoint, configured);
                continue;
            }

            try
            {
                var addresses = await Resolver(uri.IdnHost, cancellationToken).ConfigureAwait(false);
                foreach (var address in addresses.Distinct())
                {
                    var endpoint = new RouterEndpoint(uri, address);
                    wanted[endpoint.Name] = (endpoint, configured);
                }
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                ConnectorLog.ResolveFailed(_logger, uri.IdnHost, ex.Message);
                failedHosts.Add(uri.IdnHost);
            }
        }

        List<RouterRegistration> removed = [];
        lock (_lock)
        {
            if (_stop.IsCancellationRequested || _dark)
            {
                return;
            }

            foreach (var (name, (endpoint, configured)) in wanted)
            {
                if (!_registrations.ContainsKey(name) && !_registrations.ContainsKey(TcpKey(name, 0)))
                {
                    if (endpoint.PinnedAddress is not null)
                    {
                        ConnectorLog.RouterAdded(_logger, endpoint.Name, configured);
                    }

                    // One registration per route served at each router: the HTTP route, then each TCP route.
                    if (_options.ServesHttp)
                    {
                        Add(name, new RouterRegistration(endpoint, _options, _target, _extraRoots, _credentials, _time, _logger, Metrics, OnChanged));
                    }

                    for (var i = 0; i < _tcp.Length; i++)
                    {
                        Add(TcpKey(name, i), new RouterRegistration(endpoint, _options, _target, _extraRoots, _credentials, _time, _logger, Metrics, OnChanged, _tcp[i]));
                    }
                }
            }

            foreach (var (name, registration) in _registrations.ToList())
            {
                // A host that failed to resolve keeps its routers: a DNS hiccup must not take us offline.
                if (!wanted.ContainsKey(registration.Endpoint.Name) && !failedHosts.Contains(registration.Endpoint.BaseUri.IdnHost))
                {
                    ConnectorLog.RouterRemoved(_logger, registration.Endpoint.Name, registration.Endpoint.BaseUri.ToString());
                    _registrations.Remove(name);
                    removed.Add(registration);
                }
            }
        }

        foreach (var registration in removed)
        {
            _ = StopRemovedAsync(registration);
        }

        OnChanged();
    }

    /// <summary>True while the target fails its health checks and the connector is deregistered (<see cref="ConnectorOptions.TargetHealth"/>).</summary>
    public bool IsDark => _dark;

    /// <summary>Health checks finished so far, for tests that drive the clock.</summary>
    internal int HealthChecks => Volatile.Read(ref _healthChecks);

    /// <summary>Asks the target's health path every interval; two failures in a row go dark, one success comes back.</summary>
    private async Task HealthLoopAsync(CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(_options.TargetHealthInterval, _time);
        var failures = 0;
        try
        {
            while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false))
            {
                var (healthy, detail) = await _target.CheckHealthAsync(_options.TargetHealth!, _options.TargetHealthInterval, _time, cancellationToken).ConfigureAwait(false);
                failures = healthy ? 0 : failures + 1;
                if (!healthy && failures == 2 && !_dark)
                {
                    ConnectorLog.TargetUnhealthy(_logger, _options.TargetHealth!, detail);
                    await GoDarkAsync().ConfigureAwait(false);
                }
                else if (healthy && _dark)
                {
                    ConnectorLog.TargetHealthy(_logger, _options.TargetHealth!);
                    _dark = false;
                    await RefreshAsync(cancellationToken).ConfigureAwait(false);
                }

                Interlocked.Increment(ref _healthChecks);
                OnChanged();
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>Dark mode: every registration deregisters and closes its sockets once their requests are done; none is made until the target is healthy.</summary>
    private async Task GoDarkAsync()
    {
        RouterRegistration[] all;
        lock (_lock)
        {
            _dark = true;
            all = [.. _registrations.Values];
            _registrations.Clear();
        }

        await Task.WhenAll(all.Select(StopRemovedAsync)).ConfigureAwait(false);
    }

    private void Add(string key, RouterRegistration registration)
    {
        _registrations[key] = registration;
        registration.Start();
    }

    private static string TcpKey(string endpointName, int index) => endpointName + "\ntcp " + index.ToString(System.Globalization.CultureInfo.InvariantCulture);

    private async Task StopRemovedAsync(RouterRegistration registration)
    {
        await registration.StopAsync(_options.ShutdownTimeout).ConfigureAwait(false);
        registration.Dispose();
    }

    /// <summary>The <c>putsh.connector.sockets</c> callback: each router's open sockets by protocol and state.</summary>
    private List<Measurement<long>> ObserveSockets()
    {
        List<Measurement<long>> measurements = [];
        lock (_lock)
        {
            foreach (var registration in _registrations.Values)
            {
                registration.ObserveSockets(measurements);
            }
        }

        return measurements;
    }

    private void OnChanged()
    {
        TaskCompletionSource previous;
        lock (_lock)
        {
            previous = _changed;
            _changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }

        previous.TrySetResult();
    }

    /// <summary>Stops without waiting for anything: every socket is closed at once.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _started, 2) == 1)
        {
            await _stop.CancelAsync().ConfigureAwait(false);
            await _refreshLoop.ConfigureAwait(false);
            await _healthLoop.ConfigureAwait(false);
        }

        lock (_lock)
        {
            foreach (var registration in _registrations.Values)
            {
                registration.Dispose();
            }

            _registrations.Clear();
        }

        _target.Dispose();
        _credentials.Dispose();
        Metrics.Dispose();
        _stop.Dispose();
    }
}
