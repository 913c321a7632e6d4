using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;

namespace Putsh.Router.Hosting;

/// <summary>
/// Per-listener connection bounds, which Kestrel has only for the whole server: the most connections one listener
/// holds at once, and for a registration listener how many connections may be waiting to become connector sockets
/// and for how long.
/// </summary>
internal static class ListenerLimits
{
    /// <summary>Closes, at once, connections to this listener beyond <paramref name="maxConnections"/> open at a time.</summary>
    public static ListenOptions UsePutshConnectionLimit(this ListenOptions listen, int maxConnections) =>
        listen.UsePutshConnectionLimit(new ConnectionLimiter(maxConnections));

    /// <summary>Closes, at once, connections beyond what <paramref name="limiter"/> allows (shared by the endpoints given it).</summary>
    public static ListenOptions UsePutshConnectionLimit(this ListenOptions listen, ConnectionLimiter limiter)
    {
        ArgumentNullException.ThrowIfNull(listen);
        ArgumentNullException.ThrowIfNull(limiter);
        listen.Use(next => async connection =>
        {
            if (!limiter.TryEnter())
            {
                connection.Abort(new ConnectionAbortedException($"More than {limiter.Max} connections to this listener."));
                return;
            }

            try
            {
                await next(connection).ConfigureAwait(false);
            }
            finally
            {
                limiter.Exit();
            }
        });
        return listen;
    }

    /// <summary>
    /// On a registration listener: at most <paramref name="maxPending"/> connections that are not yet connector sockets,
    /// and each must become one (finish its WebSocket upgrade) within <paramref name="handshakeTimeout"/> or be closed.
    /// A connection made a socket stops counting; one that only deregisters is closed when its time is up.
    /// </summary>
    public static ListenOptions UsePutshRegistrationHandshakeLimits(this ListenOptions listen, int maxPending, TimeSpan handshakeTimeout)
    {
        ArgumentNullException.ThrowIfNull(listen);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxPending);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(handshakeTimeout, TimeSpan.Zero);
        var time = listen.ApplicationServices.GetService<TimeProvider>() ?? TimeProvider.System;
        var counter = new PendingCounter();
        listen.Use(next => async connection =>
        {
            var pending = new PendingRegistration(counter);
            if (!pending.Open(maxPending))
            {
                connection.Abort(new ConnectionAbortedException($"More than {maxPending} registrations waiting for their handshake."));
                return;
            }

            using var timer = time.CreateTimer(static s => ((PendingRegistration)s!).OnTimeout(), pending, handshakeTimeout, Timeout.InfiniteTimeSpan);
            pending.Connection = connection;
            connection.Features.Set(pending);
            try
            {
                await next(connection).ConfigureAwait(false);
            }
            finally
            {
                pending.Complete();
            }
        });
        return listen;
    }

    internal sealed class PendingCounter
    {
        public int Count;
    }
}

/// <summary>A count of open connections with a ceiling, for <see cref="ListenerLimits.UsePutshConnectionLimit(ListenOptions, ConnectionLimiter)"/>.</summary>
internal sealed class ConnectionLimiter
{
    private int _open;

    /// <summary>A limiter allowing <paramref name="max"/> connections at once.</summary>
    public ConnectionLimiter(int max)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(max);
        Max = max;
    }

    /// <summary>Connections allowed at once.</summary>
    public int Max { get; }

    /// <summary>Connections open now.</summary>
    public int Open => Volatile.Read(ref _open);

    internal bool TryEnter()
    {
        if (Interlocked.Increment(ref _open) > Max)
        {
            Interlocked.Decrement(ref _open);
            return false;
        }

        return true;
    }

    internal void Exit() => Interlocked.Decrement(ref _open);
}

/// <summary>A registration connection counted until it becomes a connector socket.</summary>
internal sealed class PendingRegistration(ListenerLimits.PendingCounter counter)
{
    private int _state; // 0 not counted, 1 pending, 2 done

    public ConnectionContext? Connection { get; set; }

    public bool Open(int max)
    {
        if (Interlocked.Increment(ref counter.Count) > max)
        {
            Interlocked.Decrement(ref counter.Count);
            return false;
        }

        _state = 1;
        return true;
    }

    /// <summary>The connection is a connector socket now (or has closed): it no longer counts, and no timeout applies.</summary>
    public void Complete()
    {
        if (Interlocked.CompareExchange(ref _state, 2, 1) == 1)
        {
            Interlocked.Decrement(ref counter.Count);
        }
    }

    public void OnTimeout()
    {
        if (Volatile.Read(ref _state) == 1)
        {
            Connection?.Abort(new ConnectionAbortedException("No connector handshake in time."));
        }
    }
}
