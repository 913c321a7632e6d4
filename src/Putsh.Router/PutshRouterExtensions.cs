using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Putsh.Router.Hosting;
using Putsh.Router.Proxy;
using Putsh.Router.Registration;
using Putsh.Router.Routing;

namespace Putsh.Router;

/// <summary>Adds a putsh router to an ASP.NET Core application.</summary>
public static class PutshRouterExtensions
{
    /// <summary>Registers the router's services. Call <see cref="UsePutshRegistration"/> and <see cref="RunPutshProxy"/> to wire it.</summary>
    public static IServiceCollection AddPutshRouter(this IServiceCollection services, Action<RouterOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        var builder = services.AddOptions<RouterOptions>();
        if (configure is not null)
        {
            builder.Configure(configure);
        }

        builder.Validate(o =>
        {
            o.Validate();
            return true;
        }).ValidateOnStart();
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton(sp => new RouteTable(sp.GetRequiredService<IOptions<RouterOptions>>().Value, sp.GetRequiredService<TimeProvider>()));
        services.TryAddSingleton<RegistrationGuard>();
        services.TryAddSingleton<RegistrationHandler>();
        services.TryAddSingleton<CrankerProxy>();
        services.AddMetrics();
        services.TryAddSingleton<Observability.LiveSockets>();
        services.TryAddSingleton<Observability.RouteStats>();
        services.TryAddSingleton<Observability.StateApi>();
        services.TryAddSingleton<Observability.RouterMetrics>();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IConfigureOptions<Microsoft.AspNetCore.Server.Kestrel.Core.KestrelServerOptions>, ConnectionHeaderCaptureSetup>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<Microsoft.AspNetCore.Hosting.IStartupFilter, ConnectionHeaderCaptureSetup>());
        if (!services.Any(d => d.ServiceType == typeof(RouterDrain)))
        {
            services.AddSingleton(sp => new RouterDrain(
                sp.GetRequiredService<RouteTable>(), sp.GetRequiredService<IOptions<RouterOptions>>(), sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<ILogger<RouterDrain>>(), sp.GetService<Microsoft.AspNetCore.Hosting.Server.IServer>()));
            services.AddSingleton<IHostedService>(sp => sp.GetRequiredService<RouterDrain>());
            services.AddHealthChecks().AddCheck<RouterReadiness>("putsh-router", tags: [RouterDrain.ReadyTag]);
        }

        return services;
    }

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

    /// <summary>Proxies every request that reaches it to a connector (the terminal middleware of the client listener).</summary>
    public static void RunPutshProxy(this IApplicationBuilder app)
    {
        ArgumentNullException.ThrowIfNull(app);
        var proxy = app.ApplicationServices.GetRequiredService<CrankerProxy>();
        if (app.ApplicationServices.GetRequiredService<IOptions<RouterOptions>>().Value.WebSockets)
        {
            // Client WebSockets are carried with the putsh websocket extension (docs/websocket-extension.md).
            app.UseWebSockets();
        }

        app.Run(proxy.HandleAsync);
    }
}
