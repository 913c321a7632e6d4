using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Putsh.Router;
using Putsh.Router.Hosting;
using Putsh.Router.Proxy;
using Putsh.Router.Registration;
using Putsh.Router.Routing;

// In the namespaces where ASP.NET Core's own extensions live, so that an app needs no extra using to find them.
namespace Microsoft.Extensions.DependencyInjection
{
    /// <summary>Adds a putsh router's services to an ASP.NET Core application.</summary>
    public static class PutshRouterServiceCollectionExtensions
    {
        /// <summary>
        /// Registers the router's services. Wire them with <c>app.MapPutshRegistration()</c> and
        /// <c>app.MapPutshProxy()</c> (or the middleware forms, <c>UsePutshRegistration</c> and <c>RunPutshProxy</c>).
        /// Calling it again adds <paramref name="configure"/> to the same options. The options are checked when the
        /// host starts: a wrong one stops it with an <see cref="OptionsValidationException"/> naming it.
        /// </summary>
        public static IServiceCollection AddPutshRouter(this IServiceCollection services, Action<RouterOptions>? configure = null)
        {
            ArgumentNullException.ThrowIfNull(services);
            var builder = services.AddOptions<RouterOptions>();
            if (configure is not null)
            {
                builder.Configure(configure);
            }

            AddServices(services);
            return services;
        }

        /// <summary>
        /// Registers the router's services with options bound from <paramref name="configuration"/> (keys are the
        /// property names of <see cref="RouterOptions"/>, for example <c>SocketAcquireTimeout</c>; durations may be written
        /// <c>5s</c>, lists as <c>a,b</c>, and an unknown key stops the host at start), then <paramref name="configure"/>.
        /// See docs/configuration.md.
        /// </summary>
        public static IServiceCollection AddPutshRouter(this IServiceCollection services, IConfiguration configuration, Action<RouterOptions>? configure = null)
        {
            ArgumentNullException.ThrowIfNull(services);
            ArgumentNullException.ThrowIfNull(configuration);
            var builder = services.AddOptions<RouterOptions>().Configure(o => RouterOptionsBinding.Bind(configuration, o));
            services.AddSingleton<IOptionsChangeTokenSource<RouterOptions>>(new ConfigurationChangeTokenSource<RouterOptions>(configuration));
            if (configure is not null)
            {
                builder.Configure(configure);
            }

            AddServices(services);
            return services;
        }

        private static void AddServices(IServiceCollection services)
        {
            services.AddOptions<RouterOptions>().ValidateOnStart();
            services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<RouterOptions>, RouterOptionsStartValidator>());
            services.TryAddSingleton(TimeProvider.System);
            services.TryAddSingleton(sp => new RouteTable(sp.GetRequiredService<IOptions<RouterOptions>>().Value, sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<Microsoft.Extensions.Logging.ILoggerFactory>().CreateLogger("Putsh.Router")));
            services.TryAddSingleton<RegistrationGuard>();
            services.TryAddSingleton<RegistrationHandler>();
            services.TryAddSingleton<CrankerProxy>();
            services.TryAddSingleton<TcpRouteProxy>();
            services.AddMetrics();
            services.TryAddSingleton<Putsh.Router.Observability.LiveSockets>();
            services.TryAddSingleton<Putsh.Router.Observability.RouteStats>();
            services.TryAddSingleton<Putsh.Router.Observability.StateApi>();
            services.TryAddSingleton<Putsh.Router.Observability.RouterMetrics>();
            services.TryAddEnumerable(ServiceDescriptor.Singleton<IConfigureOptions<Microsoft.AspNetCore.Server.Kestrel.Core.KestrelServerOptions>, ConnectionHeaderCaptureSetup>());
            services.TryAddEnumerable(ServiceDescriptor.Singleton<Microsoft.AspNetCore.Hosting.IStartupFilter, ConnectionHeaderCaptureSetup>());
            if (!services.Any(d => d.ServiceType == typeof(RouterDrain)))
            {
                services.AddSingleton(sp => new RouterDrain(
                    sp.GetRequiredService<RouteTable>(), sp.GetRequiredService<IOptions<RouterOptions>>(), sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<ILogger<RouterDrain>>(), sp.GetService<Microsoft.AspNetCore.Hosting.Server.IServer>()));
                services.AddSingleton<IHostedService>(sp => sp.GetRequiredService<RouterDrain>());
                services.AddHealthChecks().AddCheck<RouterReadiness>("putsh-router", tags: [RouterDrain.ReadyTag]);
            }
        }

        /// <summary><see cref="RouterOptions.Validate"/> as an options validator: its one-line message, not an exception's stack.</summary>
        private sealed class RouterOptionsStartValidator : IValidateOptions<RouterOptions>
        {
            public ValidateOptionsResult Validate(string? name, RouterOptions options)
            {
                try
                {
                    options.Validate();
                    return ValidateOptionsResult.Success;
                }
                catch (ArgumentException e)
                {
                    return ValidateOptionsResult.Fail(e.Message);
                }
            }
        }
    }
}

namespace Microsoft.AspNetCore.Builder
{
    /// <summary>Wires a putsh router (see <c>AddPutshRouter</c>) into an ASP.NET Core application's request pipeline.</summary>
    public static class PutshRouterApplicationBuilderExtensions
    {
        /// <summary>
        /// Handles connector registrations: <c>/register</c>, <c>/register/</c>, <c>/deregister</c>, <c>/deregister/</c>
        /// (§1.1). Other requests pass to the next middleware.
        /// </summary>
        public static IApplicationBuilder UsePutshRegistration(this IApplicationBuilder app)
        {
            ArgumentNullException.ThrowIfNull(app);
            var handler = app.ApplicationServices.GetRequiredService<RegistrationHandler>();
            return app.Use((context, next) =>
                RegistrationHandler.IsRegistrationPath(context.Request.Path) && (WsAccept.IsWebSocketRequest(context) || HttpMethods.IsTrace(context.Request.Method))
                    ? handler.HandleAsync(context)
                    : next(context));
        }

        /// <summary>Handles connector registrations on every path given to it; requests that are not registrations get a 400 or 404.</summary>
        public static void RunPutshRegistration(this IApplicationBuilder app)
        {
            ArgumentNullException.ThrowIfNull(app);
            var handler = app.ApplicationServices.GetRequiredService<RegistrationHandler>();
            app.Run(context => RegistrationHandler.IsRegistrationPath(context.Request.Path) || HttpMethods.IsTrace(context.Request.Method)
                ? handler.HandleAsync(context)
                : ErrorPages.NotFound(context));
        }

        /// <summary>
        /// Proxies every request that reaches it to a connector: terminal middleware, so nothing after it runs. In an
        /// app with endpoints of its own, use <c>MapPutshProxy</c> instead.
        /// </summary>
        public static void RunPutshProxy(this IApplicationBuilder app)
        {
            ArgumentNullException.ThrowIfNull(app);
            app.Run(app.ApplicationServices.GetRequiredService<CrankerProxy>().HandleAsync);
        }
    }

    /// <summary>
    /// A putsh router as endpoints, in the manner of YARP's <c>MapReverseProxy</c>: they take part in endpoint routing
    /// next to the app's own endpoints, and the returned builders take the usual conventions (<c>RequireHost</c>,
    /// <c>RequireAuthorization</c>, metadata, rate limiting).
    /// </summary>
    public static class PutshRouterEndpointRouteBuilderExtensions
    {
        /// <summary>The order of the proxy's catch-all endpoint: after every endpoint of the app's that also matches.</summary>
        public const int ProxyOrder = int.MaxValue - 1;

        /// <summary>
        /// Maps connector registrations, <c>/register</c> and <c>/deregister</c> (§1.1, with or without the trailing
        /// slash), below the prefix of the group it is called on. A connector's URL is the router's address plus that
        /// prefix.
        /// </summary>
        public static IEndpointConventionBuilder MapPutshRegistration(this IEndpointRouteBuilder endpoints)
        {
            ArgumentNullException.ThrowIfNull(endpoints);
            var handler = endpoints.ServiceProvider.GetRequiredService<RegistrationHandler>();
            var group = endpoints.MapGroup("");
            group.Map("/register", context => handler.HandleAsync(context, deregister: false)).WithDisplayName("putsh registration");
            group.Map("/deregister", context => handler.HandleAsync(context, deregister: true)).WithDisplayName("putsh deregistration");
            return group;
        }

        /// <summary>
        /// Maps the proxy: every request that no other endpoint matches (a catch-all of order <see cref="ProxyOrder"/>)
        /// goes to a connector of its route, and gets putsh's 404 when there is none. Client WebSockets need no
        /// WebSocket middleware.
        /// </summary>
        public static IEndpointConventionBuilder MapPutshProxy(this IEndpointRouteBuilder endpoints)
        {
            ArgumentNullException.ThrowIfNull(endpoints);
            var proxy = endpoints.ServiceProvider.GetRequiredService<CrankerProxy>();
            return endpoints.Map("/{**putshPath}", proxy.HandleAsync)
                .WithOrder(ProxyOrder)
                .WithDisplayName("putsh proxy");
        }
    }
}
