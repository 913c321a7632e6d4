using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Net.Security;
using System.Net.WebSockets;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Logging;
using Putsh.Connector.Forwarding;
using Putsh.Connector.Sockets;
using Putsh.Protocol;
using Putsh.Protocol.V3;
using Putsh.Protocol.WebSockets;

namespace Putsh.Connector.Pool;

/// <summary>
/// The connector's sockets to one router: keeps <see cref="ConnectorOptions.Sockets"/> idle sockets open, dials a
/// replacement as soon as one is taken (§1.7), and after a failure probes with one socket at a time, backing off
/// exponentially with jitter (§1.8), so that a down router is not hammered and a restarted one is not stormed.
/// </summary>
internal sealed class RouterRegistration : IDisposable
{
    private readonly ConnectorOptions _options;
    private readonly TargetClient _target;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly Action _changed;
    private readonly RemoteCertificateValidationCallback? _serverCertificateCheck;
    private readonly ReconnectBackoff _backoff;
    private readonly RegistrationCredentials _credentials;
    private readonly ConnectorMetrics _metrics;
    private readonly ConcurrentDictionary<IConnectorSocket, Task> _sockets = new();
    private readonly ConcurrentDictionary<Task, byte> _dials = new();
    private readonly SemaphoreSlim _wake = new(0);
    private readonly CancellationTokenSource _stop = new();

    // Ends handshakes in progress: on Dispose only. A graceful stop lets them finish (within ConnectTimeout) and then
    // closes the socket with a close frame: a handshake cut short after the router accepted it leaves the router a
    // socket lost without one, and a request it had just sent there a 502 instead of a retry elsewhere.
    private readonly CancellationTokenSource _abort = new();
    private int _idle;
    private int _connecting;
    private int _failures;
    private int _lost;
    private bool _announced;
    private bool _refused;
    private Task _loop = Task.CompletedTask;

    public RouterRegistration(RouterEndpoint endpoint, ConnectorOptions options, TargetClient target, X509Certificate2Collection? extraRoots, RegistrationCredentials credentials, TimeProvider time, ILogger logger, ConnectorMetrics metrics, Action changed, TcpService? tcp = null)
    {
        Tcp = tcp;
        Route = tcp?.Route ?? options.Route;
        _metrics = metrics;
        _credentials = credentials;
        Endpoint = endpoint;
        _options = options;
        _target = target;
        _time = time;
        _logger = logger;
        _changed = changed;
        _backoff = new ReconnectBackoff(options.ReconnectInitialDelay, options.ReconnectMaxDelay);
        _serverCertificateCheck = CertificateCheck(extraRoots);
    }

    public RouterEndpoint Endpoint { get; }

    /// <summary>The route registered: the HTTP route, or the TCP route of <see cref="Tcp"/>.</summary>
    public string Route { get; }

    /// <summary>The TCP route this registration serves (the <c>tcp</c> extension), or null for the HTTP route.</summary>
    public TcpService? Tcp { get; }

    public int IdleSockets => Volatile.Read(ref _idle);

    public int BusySockets => _sockets.Keys.Count(s => s.IsBusy);

    public int ConsecutiveFailures => Volatile.Read(ref _failures);

    public string? LastError { get; private set; }

    public string? Protocol { get; private set; }

    public void Start() => _loop = MaintainAsync(_stop.Token);

    private async Task MaintainAsync(CancellationToken cancellationToken)
    {
        try
        {
            while (!cancellationToken.IsCancellationRequested)
            {
                var failures = Volatile.Read(ref _failures);
                if (failures > 0)
                {
                    // A router that refused our credentials is asked again only at the longest delay: retrying
                    // sooner cannot help until an operator fixes the token or certificate.
                    var delay = _refused ? _backoff.Delay(int.MaxValue) : _backoff.Delay(failures);
                    if (_refused)
                    {
                        ConnectorLog.RegistrationRefused(_logger, Endpoint.Name, LastError ?? "refused", delay);
                    }
                    else if (failures == 1)
                    {
                        ConnectorLog.ConnectFailed(_logger, Endpoint.Name, LastError ?? "unknown error", delay);
                    }
                    else
                    {
                        ConnectorLog.ConnectStillFailing(_logger, Endpoint.Name, failures, LastError ?? "unknown error", delay);
                    }

                    _metrics.BackoffTaken(Endpoint.Name, delay);
                    await Task.Delay(delay, _time, cancellationToken).ConfigureAwait(false);
                    Interlocked.Increment(ref _connecting);
                    await DialAsync(cancellationToken).ConfigureAwait(false);
                    continue;
                }

                var deficit = _options.Sockets - (Volatile.Read(ref _idle) + Volatile.Read(ref _connecting));
                for (var i = 0; i < deficit; i++)
                {
                    Interlocked.Increment(ref _connecting);
                    var dial = DialAsync(cancellationToken);
                    _dials[dial] = 0;
                    _ = dial.ContinueWith(static (t, s) => ((ConcurrentDictionary<Task, byte>)s!).TryRemove(t, out _), _dials, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
                }

                await _wake.WaitAsync(cancellationToken).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    private async Task DialAsync(CancellationToken cancellationToken)
    {
        PutshWebSocket? ws = null;
        try
        {
            var headers = RegistrationHeaders();
            // putsh extensions, for cranker_3.0 only; other routers ignore the header.
            var offersV3 = _options.Protocols.Any(p => CrankerProtocol.Normalize(p) == CrankerProtocol.V3);
            var offerWebSockets = _options.WebSockets && offersV3;
            var offerWindow = offersV3 && _options.FlowWindow > V3Frame.HighWatermark;
            var offerTrailers = offersV3 && _options.Trailers && Tcp is null;
            if (Tcp is not null)
            {
                offerWebSockets = false;
            }

            if (WsFrame.ExtensionsValue(offerWebSockets, offerWindow ? _options.FlowWindow : 0, _options.AcknowledgeHeads ? HeadAcks.Request : HeadAcks.None, offerTrailers, tcp: Tcp is not null) is { } offer)
            {
                headers.Add(new(WsFrame.ExtensionsHeaderName, offer));
            }

            using var timeout = new CancellationTokenSource(_options.ConnectTimeout, _time);
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(_abort.Token, timeout.Token);
            var connection = await WsClient.ConnectAsync(Endpoint.RegisterUri(_options), ClientOptions(headers, keepAlive: true), linked.Token).ConfigureAwait(false);
            ws = connection.Socket;

            // §1.4: cranker_3.0 only when the router picked it; anything else, including no subprotocol, is 1.0.
            Protocol = ws.SubProtocol == CrankerProtocol.V3 ? CrankerProtocol.V3 : CrankerProtocol.V1;
            // An extension is on only where the router answered that it speaks it.
            IEnumerable<string> extensions = [];
            if (Protocol == CrankerProtocol.V3 && connection.Headers.TryGetValue(WsFrame.ExtensionsHeaderName, out var answered))
            {
                extensions = answered.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
            }

            var webSockets = offerWebSockets && WsFrame.Names(extensions, WsFrame.WebSocketExtension);
            var flowWindow = offerWindow ? Math.Min(FlowWindowExtension.Parse(extensions), _options.FlowWindow) : 0;
            var headAcks = FlowWindowExtension.ParseHeadAcks(extensions, flowWindow);
            var trailers = offerTrailers && TrailersExtension.IsNamed(extensions);
            if (Tcp is not null && !TcpExtension.IsNamed(extensions))
            {
                // A router without the extension would take this socket for an HTTP route of that name.
                throw new InvalidOperationException($"the router does not carry TCP routes (it did not agree the putsh tcp extension over cranker_3.0), so TCP route '{Route}' cannot register there");
            }
            var hadFailures = Interlocked.Exchange(ref _failures, 0) > 0;
            _metrics.Registration(Endpoint.Name, ConnectorMetrics.Accepted, null);
            // A reconnect replaces a lost socket or ends a run of failures; both take one lost socket, if any.
            if (TakeLost() | hadFailures)
            {
                _metrics.Reconnected(Endpoint.Name);
            }

            LastError = null;
            _refused = false;
            if (!_announced || hadFailures)
            {
                _announced = true;
                ConnectorLog.Registered(_logger, Endpoint.Name, Route, Protocol, _options.Sockets);
            }

            IConnectorSocket socket = Protocol == CrankerProtocol.V3
                ? new ConnectorSocketV3(ws, _target, _options, _time, _logger, Endpoint.Name, _metrics, webSockets, flowWindow, headAcks, trailers, Tcp)
                : new ConnectorSocketV1(ws, _target, _options, _time, _logger, Endpoint.Name, _metrics);
            ws = null;
            Interlocked.Increment(ref _idle);
            socket.Consumed += OnConsumed;
            _sockets[socket] = RunSocketAsync(socket);
        }
        catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
        {
            var status = (ex as WsConnectException)?.Status ?? 0;
            if (status is 401 or 403)
            {
                _refused = true;
                LastError = RefusalText((WsConnectException)ex);
                _metrics.Registration(Endpoint.Name, ConnectorMetrics.Refused, ConnectorMetrics.StatusText(status));
            }
            else
            {
                _refused = false;
                LastError = Putsh.Protocol.Diagnostics.ExceptionText.Describe(ex);
                // A router that answered without upgrading is named by its status; anything else by the exception.
                _metrics.Registration(Endpoint.Name, ConnectorMetrics.Failed, status is > 0 and not 101 ? ConnectorMetrics.StatusText(status) : ConnectorMetrics.ErrorType(ex));
            }

            Interlocked.Increment(ref _failures);
        }
        catch (Exception)
        {
        }
        finally
        {
            ws?.Dispose();
            Interlocked.Decrement(ref _connecting);
            _wake.Release();
            _changed();
        }
    }

    /// <summary>The headers of every registration and deregistration request.</summary>
    private List<KeyValuePair<string, string>> RegistrationHeaders()
    {
        // CrankerProtocol: 1.0 always goes, for routers that predate subprotocol negotiation (§1.2).
        var headers = new List<KeyValuePair<string, string>>
        {
            new(CrankerProtocol.LegacyHeaderName, CrankerProtocol.LegacyHeaderValue),
            new(CrankerProtocol.RouteHeaderName, Route),
            new(CrankerProtocol.DomainHeaderName, _options.Domain),
        };
        if (_credentials.AuthorizationHeader is { } authorization)
        {
            headers.Add(new("Authorization", authorization));
        }

        return headers;
    }

    private WsClientOptions ClientOptions(IReadOnlyList<KeyValuePair<string, string>> headers, bool keepAlive) => new()
    {
        SubProtocols = keepAlive ? [.. _options.Protocols.Select(p => CrankerProtocol.Normalize(p)!)] : [],
        Headers = headers,
        PinnedAddress = Endpoint.PinnedAddress,
        ClientCertificate = _credentials.ClientCertificate,
        ServerCertificateCheck = _serverCertificateCheck,
        KeepAliveInterval = keepAlive ? _options.PingInterval : TimeSpan.Zero,
        KeepAliveTimeout = !keepAlive || _options.PingInterval == TimeSpan.Zero ? Timeout.InfiniteTimeSpan : _options.SilenceTimeout,
        Time = _time,
    };

    /// <summary>The router's answer to a refused registration: its status and, where it gave one, its challenge.</summary>
    private static string RefusalText(WsConnectException refusal)
    {
        var status = refusal.Status;
        var text = $"{status} {(status == 401 ? "Unauthorized" : "Forbidden")}";
        if (refusal.Headers.TryGetValue("WWW-Authenticate", out var challenge))
        {
            text += " (" + challenge + ")";
        }

        return text;
    }

    private async Task RunSocketAsync(IConnectorSocket socket)
    {
        await Task.Yield();

        // Idle sockets are not cut by stopping: they stay usable until the router confirms deregistration, then
        // StopAsync closes them cleanly; Dispose aborts them.
        await socket.RunAsync(CancellationToken.None).ConfigureAwait(false);
        if (!socket.WasConsumed)
        {
            Interlocked.Decrement(ref _idle);
            if (!_stop.IsCancellationRequested)
            {
                // Lost, not used up: the socket that replaces it counts as a reconnect.
                Interlocked.Increment(ref _lost);
            }
        }

        _sockets.TryRemove(socket, out _);
        socket.Dispose();
        _wake.Release();
        _changed();
    }

    /// <summary>Takes one lost socket off the count; false when there was none.</summary>
    private bool TakeLost()
    {
        var lost = Volatile.Read(ref _lost);
        while (lost > 0)
        {
            var seen = Interlocked.CompareExchange(ref _lost, lost - 1, lost);
            if (seen == lost)
            {
                return true;
            }

            lost = seen;
        }

        return false;
    }

    /// <summary>Adds this router's open sockets to <paramref name="measurements"/>: idle and busy, for each protocol in use.</summary>
    public void ObserveSockets(List<Measurement<long>> measurements)
    {
        long v1Idle = 0, v1Busy = 0, v3Idle = 0, v3Busy = 0;
        foreach (var socket in _sockets.Keys)
        {
            if (socket is ConnectorSocketV1 v1)
            {
                // A cranker_1.0 socket that has sent its response is closing: neither idle nor busy.
                if (v1.IsIdle)
                {
                    v1Idle++;
                }
                else if (v1.IsBusy)
                {
                    v1Busy++;
                }
            }
            else if (socket.IsBusy)
            {
                v3Busy++;
            }
            else
            {
                v3Idle++;
            }
        }

        // A protocol is reported while it has sockets or is the one last negotiated, so its series drop to zero
        // rather than vanish when the sockets close.
        var current = Protocol;
        if (v1Idle + v1Busy > 0 || current == CrankerProtocol.V1)
        {
            measurements.Add(ConnectorMetrics.SocketCount(v1Idle, Endpoint.Name, CrankerProtocol.V1, ConnectorMetrics.Idle));
            measurements.Add(ConnectorMetrics.SocketCount(v1Busy, Endpoint.Name, CrankerProtocol.V1, ConnectorMetrics.Busy));
        }

        if (v3Idle + v3Busy > 0 || current == CrankerProtocol.V3)
        {
            measurements.Add(ConnectorMetrics.SocketCount(v3Idle, Endpoint.Name, CrankerProtocol.V3, ConnectorMetrics.Idle));
            measurements.Add(ConnectorMetrics.SocketCount(v3Busy, Endpoint.Name, CrankerProtocol.V3, ConnectorMetrics.Busy));
        }
    }

    private void OnConsumed(IConnectorSocket socket)
    {
        Interlocked.Decrement(ref _idle);
        _wake.Release(); // top up at once (§1.7)
        _changed();
    }

    /// <summary>
    /// Graceful stop (§1.9): no more dialling, deregister so the router stops handing out our sockets, close the
    /// idle ones, wait up to <paramref name="timeout"/> for requests in flight, then close whatever is left.
    /// True when everything finished in time.
    /// </summary>
    public async Task<bool> StopAsync(TimeSpan timeout)
    {
        // Stop dialling, and let dials in progress end (they finish their handshake), so no socket appears after
        // this; those that opened are closed below with the others, with a close frame.
        await _stop.CancelAsync().ConfigureAwait(false);
        await _loop.ConfigureAwait(false);
        await Task.WhenAll(_dials.Keys).ConfigureAwait(false);
        var start = _time.GetTimestamp();
        var deregistered = await DeregisterAsync(timeout).ConfigureAwait(false);
        ConnectorLog.Deregistered(_logger, Endpoint.Name, deregistered ? "router confirmed" : "router did not answer");

        foreach (var socket in _sockets.Keys)
        {
            _ = socket.CloseWhenIdleAsync(WebSocketCloseStatus.NormalClosure, "connector stop");
        }

        var remaining = timeout - _time.GetElapsedTime(start);
        var all = Task.WhenAll(_sockets.Values);
        try
        {
            await all.WaitAsync(remaining > TimeSpan.Zero ? remaining : TimeSpan.Zero, _time).ConfigureAwait(false);
            return true;
        }
        catch (TimeoutException)
        {
            foreach (var socket in _sockets.Keys)
            {
                socket.Abort();
            }

            return false;
        }
    }

    private async Task<bool> DeregisterAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(Min(timeout, _options.ConnectTimeout + _options.ConnectTimeout), _time);
        try
        {
            var connection = await WsClient.ConnectAsync(Endpoint.DeregisterUri(_options), ClientOptions(RegistrationHeaders(), keepAlive: false), cts.Token).ConfigureAwait(false);
            using var ws = connection.Socket;
            await ws.CloseAsync(WebSocketCloseStatus.NormalClosure, "", cts.Token).ConfigureAwait(false);
            return true;
        }
        catch (Exception)
        {
            return false;
        }
    }

    private static TimeSpan Min(TimeSpan a, TimeSpan b) => a < b ? a : b;

    /// <summary>With extra CAs, a check of a router's (or an https target's) certificate that also trusts chains ending at one of them; else the system's.</summary>
    internal static RemoteCertificateValidationCallback? CertificateCheck(X509Certificate2Collection? extraRoots)
    {
        if (extraRoots is not { Count: > 0 })
        {
            return null;
        }

        return (_, certificate, chain, errors) =>
        {
            if (errors == SslPolicyErrors.None)
            {
                return true;
            }

            // Only an untrusted chain can be rescued by the extra CAs; a wrong name never is.
            if (errors != SslPolicyErrors.RemoteCertificateChainErrors || certificate is null)
            {
                return false;
            }

            using var custom = new X509Chain();
            custom.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
            custom.ChainPolicy.CustomTrustStore.AddRange(extraRoots);
            custom.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
            if (chain is not null)
            {
                foreach (var element in chain.ChainElements)
                {
                    custom.ChainPolicy.ExtraStore.Add(element.Certificate);
                }
            }

            using var leaf = new X509Certificate2(certificate);
            return custom.Build(leaf);
        };
    }

    public void Dispose()
    {
        _stop.Cancel();
        _abort.Cancel();
        foreach (var socket in _sockets.Keys)
        {
            socket.Abort();
        }

        // _wake and _stop are left to the GC: socket tasks still ending may touch them, and neither holds
        // anything unmanaged unless a wait handle is asked for.
    }
}
