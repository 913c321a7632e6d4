using System.Collections.Concurrent;

namespace Putsh.Router.Observability;

/// <summary>
/// Running totals per route since the router started, for the state API and the dashboard (which turn them into rates
/// by difference). Kept whether or not any metrics listener is attached; a handful of interlocked additions per request.
/// </summary>
internal sealed class RouteStats
{
    private readonly ConcurrentDictionary<string, RouteCounters> _routes = new(StringComparer.Ordinal);

    public RouteCounters For(string route) => _routes.GetOrAdd(route, static _ => new RouteCounters());

    public RouteCounters? Find(string route) => _routes.GetValueOrDefault(route);

    /// <summary>Every route seen since the router started, with its totals.</summary>
    public IEnumerable<KeyValuePair<string, RouteCounters>> All() => _routes;
}

/// <summary>One route's totals.</summary>
internal sealed class RouteCounters
{
    private long _requests;
    private long _informational;
    private long _success;
    private long _redirection;
    private long _clientError;
    private long _serverError;
    private long _routerErrors;
    private long _durationTicks;
    private long _bytesReceived;
    private long _bytesSent;

    public long Requests => Volatile.Read(ref _requests);

    public long Status1xx => Volatile.Read(ref _informational);

    public long Status2xx => Volatile.Read(ref _success);

    public long Status3xx => Volatile.Read(ref _redirection);

    public long Status4xx => Volatile.Read(ref _clientError);

    public long Status5xx => Volatile.Read(ref _serverError);

    /// <summary>Requests the router itself failed (no socket, socket lost, timeout, aborted, client gone).</summary>
    public long RouterErrors => Volatile.Read(ref _routerErrors);

    public double DurationSecondsSum => TimeSpan.FromTicks(Volatile.Read(ref _durationTicks)).TotalSeconds;

    public long BytesReceived => Volatile.Read(ref _bytesReceived);

    public long BytesSent => Volatile.Read(ref _bytesSent);

    public void Ended(int status, bool routerError, TimeSpan duration)
    {
        Interlocked.Increment(ref _requests);
        if (status < 200)
        {
            Interlocked.Increment(ref _informational);
        }
        else if (status < 300)
        {
            Interlocked.Increment(ref _success);
        }
        else if (status < 400)
        {
            Interlocked.Increment(ref _redirection);
        }
        else if (status < 500)
        {
            Interlocked.Increment(ref _clientError);
        }
        else
        {
            Interlocked.Increment(ref _serverError);
        }
        if (routerError)
        {
            Interlocked.Increment(ref _routerErrors);
        }

        Interlocked.Add(ref _durationTicks, duration.Ticks);
    }

    public void Transferred(long received, long sent)
    {
        Interlocked.Add(ref _bytesReceived, received);
        Interlocked.Add(ref _bytesSent, sent);
    }
}
