using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;

namespace Putsh.Router.Hosting;

/// <summary>
/// Per-listener connection bounds, which Kestrel has only for the whole server: the most connections one listener
/// holds at once, and for a registration listener how many connections may be waiting to become connector sockets
/// and for how long.
/// </summary>
public static class ListenerLimits
{
    /// <summary>Closes, at once, connections to this listener beyond <paramref name="maxConnections"/> open at a time.</summary>
    public static ListenOptions UsePutshConnectionLimit(this ListenOptions listen, int maxConnections)
    {
        ArgumentNullException.ThrowIfNull(listen);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxConnections);
        var open = 0;
        listen.Use(next => async connection =>
        {
            if (Interlocked.Increment(ref open) > maxConnections)
            {
                Interlocked.Decrement(ref open);
                connection.Abort(new ConnectionAbortedException($"More than {maxConnections} connections to this listener."));
                return;
            }

            try
            {
                await next(connection).ConfigureAwait(false);
            }
            finally
            {
                Interlocked.Decrement(ref open);
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
