using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;

namespace Putsh.Router.Hosting;

/// <summary>
/// Lets the router's graceful stop (<see cref="RouterDrain"/>) know when the last client connection of a listener has
/// gone, and refuse new ones once its drain delay is over. Without it the drain waits only for requests in flight.
/// </summary>
internal static class ClientConnectionTracking
{
    /// <summary>Counts this listener's connections as client connections (a registration on it stops being counted).</summary>
    public static ListenOptions UsePutshClientConnectionTracking(this ListenOptions listen)
    {
        ArgumentNullException.ThrowIfNull(listen);
        var services = listen.ApplicationServices;
        RouterDrain? drain = null;
        listen.Use(next => async connection =>
        {
            drain ??= services.GetRequiredService<RouterDrain>();
            // Counted before the check, so that the drain never sees zero connections while one is getting in.
            var tracked = new TrackedClientConnection(drain).Open();
            if (drain.RefusesClients)
            {
                // Stopping: Kestrel is about to stop listening; a connection accepted just before then gets nothing.
                tracked.Release();
                connection.Abort(new ConnectionAbortedException("The router is shutting down."));
                return;
            }

            connection.Features.Set(tracked);
            try
            {
                await next(connection).ConfigureAwait(false);
            }
            finally
            {
                tracked.Release();
            }
        });
        return listen;
    }
}

/// <summary>A client connection counted by <see cref="RouterDrain"/>, until it closes or turns out to be a connector's.</summary>
internal sealed class TrackedClientConnection(RouterDrain drain)
{
    private int _released;

    public TrackedClientConnection Open()
    {
        drain.ConnectionOpened();
        return this;
    }

    public void Release()
    {
        if (Interlocked.Exchange(ref _released, 1) == 0)
        {
            drain.ConnectionClosed();
        }
    }
}
