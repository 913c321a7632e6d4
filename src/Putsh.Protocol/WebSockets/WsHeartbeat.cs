using System.Collections.Concurrent;
using System.Runtime.CompilerServices;

namespace Putsh.Protocol.WebSockets;

/// <summary>
/// One timer for every WebSocket of a <see cref="TimeProvider"/> and tick length, as Kestrel's heartbeat: each tick
/// asks every registered socket whether a ping is due or one went unanswered. Ten thousand idle sockets cost one
/// timer, not ten thousand, and a test drives them all with one fake clock. The timer runs only while some socket is
/// registered.
/// </summary>
internal sealed class WsHeartbeat
{
    private static readonly ConditionalWeakTable<TimeProvider, ConcurrentDictionary<TimeSpan, WsHeartbeat>> All = [];

    private readonly TimeProvider _time;
    private readonly TimeSpan _period;
    private readonly ConcurrentDictionary<PutshWebSocket, byte> _sockets = new();
    private readonly Lock _timerLock = new();
    private ITimer? _timer;

    private WsHeartbeat(TimeProvider time, TimeSpan period)
    {
        _time = time;
        _period = period;
    }

    /// <summary>The tick length for a keep-alive interval: a quarter of it, between 10 ms and 1 s.</summary>
    public static TimeSpan PeriodFor(TimeSpan interval) =>
        TimeSpan.FromTicks(Math.Clamp(interval.Ticks / 4, TimeSpan.TicksPerMillisecond * 10, TimeSpan.TicksPerSecond));

    /// <summary>The heartbeat of <paramref name="time"/> that ticks every <paramref name="period"/>.</summary>
    public static WsHeartbeat For(TimeProvider time, TimeSpan period) =>
        All.GetValue(time, static _ => new ConcurrentDictionary<TimeSpan, WsHeartbeat>())
            .GetOrAdd(period, static (p, t) => new WsHeartbeat(t, p), time);

    public int Count => _sockets.Count;

    public void Add(PutshWebSocket socket)
    {
        _sockets[socket] = 0;
        lock (_timerLock)
        {
            _timer ??= _time.CreateTimer(static s => ((WsHeartbeat)s!).Tick(), this, _period, _period);
        }
    }

    public void Remove(PutshWebSocket socket)
    {
        if (_sockets.TryRemove(socket, out _) && _sockets.IsEmpty)
        {
            lock (_timerLock)
            {
                if (_sockets.IsEmpty)
                {
                    _timer?.Dispose();
                    _timer = null;
                }
            }
        }
    }

    private void Tick()
    {
        var now = _time.GetTimestamp();
        foreach (var socket in _sockets.Keys)
        {
            socket.OnHeartbeat(now);
        }
    }
}
