using System.Net;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Putsh.Router.Hosting;

/// <summary>
/// Serves HTTP/1.1 and cleartext HTTP/2 with prior knowledge (h2c, as sent by <c>curl --http2-prior-knowledge</c> or by
/// an <see cref="HttpClient"/> asking for version 2.0 exactly on <c>http://</c>) on one TCP port.
/// </summary>
/// <remarks>
/// Kestrel cannot do this by itself: without TLS there is no ALPN, so it serves an <see cref="HttpProtocols.Http1AndHttp2"/>
/// cleartext endpoint as HTTP/1.1 only. Here the real endpoint speaks HTTP/1.1 and looks at the first bytes of every
/// connection; a connection that starts with the HTTP/2 client preface is handed, unread, to a second, virtual endpoint
/// (<see cref="H2cHandoffEndPoint"/>) that speaks HTTP/2 only. Wiring, in two steps:
/// <code>
/// builder.Services.AddH2cHandoff();
/// builder.WebHost.ConfigureKestrel(kestrel => kestrel.ListenHttp1AndH2c(new IPEndPoint(IPAddress.Any, 8080)));
/// </code>
/// </remarks>
internal static class H2cHandoffExtensions
{
    /// <summary>
    /// Registers <see cref="H2cHandoffConnectionListenerFactory"/> as an additional Kestrel transport
    /// (an <see cref="IConnectionListenerFactory"/>), which <see cref="ListenHttp1AndH2c"/> needs. Idempotent.
    /// </summary>
    /// <remarks>
    /// The transport has to be in the service collection before the container is built, which is why this is a separate
    /// call: Kestrel's options are configured too late to add it. If no transport is registered yet (this runs before
    /// <c>UseKestrel</c>), the Sockets transport is registered first, because Kestrel adds its default transport only
    /// when none is registered and would otherwise be left with a transport that binds nothing but handoff endpoints.
    /// </remarks>
    /// <param name="services">The application's services.</param>
    /// <returns><paramref name="services"/>.</returns>
    public static IServiceCollection AddH2cHandoff(this IServiceCollection services)
    {
        ArgumentNullException.ThrowIfNull(services);
        if (!services.Any(d => d.ServiceType == typeof(IConnectionListenerFactory) && !d.IsKeyedService))
        {
            services.AddSingleton<IConnectionListenerFactory, SocketTransportFactory>();
        }

        services.TryAddSingleton<H2cHandoffConnectionListenerFactory>();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IConnectionListenerFactory, H2cHandoffConnectionListenerFactory>(
            sp => sp.GetRequiredService<H2cHandoffConnectionListenerFactory>()));
        return services;
    }

    /// <summary>
    /// Listens on <paramref name="endPoint"/> for cleartext HTTP/1.1 and HTTP/2 with prior knowledge (h2c).
    /// Needs <see cref="AddH2cHandoff"/> on the application's services.
    /// </summary>
    /// <remarks>
    /// <para>
    /// This adds two Kestrel endpoints, in this order: the real one on <paramref name="endPoint"/>, serving HTTP/1.1,
    /// and an <see cref="H2cHandoffEndPoint"/> serving HTTP/2 (it shows among the server addresses as
    /// <c>http://h2c-handoff.invalid/…</c>, which cannot be dialled). <paramref name="configure"/> is called for both, so
    /// connection middleware it adds, say to set a connection feature, runs on whichever pipeline serves the connection,
    /// exactly once per connection; it can tell them apart by <see cref="ListenOptions.EndPoint"/> (an
    /// <see cref="H2cHandoffEndPoint"/>, or the real endpoint whose <see cref="ListenOptions.IPEndPoint"/> holds the bound
    /// port once the server has started). It must not enable TLS, and the <see cref="ListenOptions.Protocols"/> it sets
    /// are overridden.
    /// </para>
    /// <para>
    /// Requests on h2c connections see scheme <c>http</c>, protocol <c>HTTP/2</c>, the real local and remote addresses
    /// and the real connection id. Kestrel counts an h2c connection once on each endpoint (for
    /// <see cref="KestrelServerLimits.MaxConcurrentConnections"/> too). A connection that sends nothing is closed after
    /// <see cref="KestrelServerLimits.KeepAliveTimeout"/>, one that sends part of a preface and stalls after
    /// <see cref="KestrelServerLimits.RequestHeadersTimeout"/>.
    /// </para>
    /// </remarks>
    /// <param name="kestrel">The Kestrel options.</param>
    /// <param name="endPoint">The TCP address to listen on (port 0 for any free port).</param>
    /// <param name="configure">Configures both endpoints, for instance with connection middleware.</param>
    /// <exception cref="InvalidOperationException"><see cref="AddH2cHandoff"/> was not called on the application's services.</exception>
    /// <param name="configureOutermost">Applied to the real endpoint only, before the sniffing: what must see every connection at once, such as a connection limit.</param>
    public static void ListenHttp1AndH2c(this KestrelServerOptions kestrel, IPEndPoint endPoint, Action<ListenOptions>? configure = null, Action<ListenOptions>? configureOutermost = null)
    {
        ArgumentNullException.ThrowIfNull(kestrel);
        ArgumentNullException.ThrowIfNull(endPoint);
        if (kestrel.ApplicationServices is { } services && services.GetService<H2cHandoffConnectionListenerFactory>() is null)
        {
            throw new InvalidOperationException(
                $"{nameof(ListenHttp1AndH2c)} needs the h2c handoff transport: call services.{nameof(AddH2cHandoff)}() when building the application.");
        }

        ListenOptions? real = null;
        var handoff = new H2cHandoffEndPoint(() => (real?.EndPoint ?? endPoint).ToString() ?? "");

        // The real endpoint first: it is the first of the two server addresses, and it is bound first. A connection
        // handed over before the handoff endpoint is bound waits in the endpoint's queue.
        kestrel.Listen(endPoint, listen =>
        {
            real = listen;

            configureOutermost?.Invoke(listen);

            // Outside the caller's middleware, so that runs once, on the pipeline that serves the connection.
            var sniffer = new H2cPrefaceSniffer(handoff, kestrel.Limits, kestrel.ApplicationServices?.GetService<TimeProvider>() ?? TimeProvider.System);
            listen.Use(next => connection => sniffer.OnConnectionAsync(connection, next));
            configure?.Invoke(listen);
            listen.Protocols = HttpProtocols.Http1;
        });
        kestrel.Listen(handoff, listen =>
        {
            configure?.Invoke(listen);
            listen.Protocols = HttpProtocols.Http2;
        });
    }
}
