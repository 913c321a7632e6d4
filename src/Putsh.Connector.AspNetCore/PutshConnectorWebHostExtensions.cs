using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Putsh.Connector;
using Putsh.Connector.AspNetCore;

// In the namespace of UseKestrel and ASP.NET Core's other web host extensions, so that it needs no extra using.
namespace Microsoft.AspNetCore.Hosting;

/// <summary>Serves an ASP.NET Core application through Cranker routers instead of a listening port.</summary>
public static class PutshConnectorWebHostExtensions
{
    /// <summary>
    /// Replaces the app's server (Kestrel) with a putsh connector: the whole middleware pipeline serves the requests
    /// that arrive through the routers in <see cref="ConnectorOptions.Routers"/> for <see cref="ConnectorOptions.Route"/>,
    /// and the app listens on no port at all.
    /// </summary>
    /// <param name="builder">The web host builder, for example <c>WebApplicationBuilder.WebHost</c>.</param>
    /// <param name="configure">
    /// Sets the connector's options. <see cref="ConnectorOptions.Target"/> is not needed and
    /// <see cref="ConnectorOptions.Handler"/> is replaced by the server; the options are checked when the app starts.
    /// </param>
    /// <returns>The same builder.</returns>
    public static IWebHostBuilder UsePutshConnector(this IWebHostBuilder builder, Action<ConnectorOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(configure);
        return builder.ConfigureServices(services =>
        {
            services.AddOptions<ConnectorOptions>(PutshServer.OptionsName).Configure(configure);
            services.RemoveAll<IServer>();
            services.AddSingleton<IServer, PutshServer>();
        });
    }
}
