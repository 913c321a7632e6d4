using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Putsh.Router.Proxy;

namespace Putsh.Router.Hosting;

/// <summary>Kestrel listeners for TCP routes (<c>--tcp-listen 0.0.0.0:5432=postgres</c>, docs/protocol.md §12.9).</summary>
internal static class TcpRouteListener
{
    /// <summary>Every connection to this listener goes, as raw bytes, to a connector of the TCP route <paramref name="route"/>.</summary>
    public static ListenOptions RunPutshTcpRoute(this ListenOptions listen, string route)
    {
        ArgumentNullException.ThrowIfNull(listen);
        ArgumentException.ThrowIfNullOrEmpty(route);
        var proxy = listen.ApplicationServices.GetRequiredService<TcpRouteProxy>();
        listen.Run(connection => proxy.RunAsync(connection, route));
        return listen;
    }
}
