using Microsoft.AspNetCore.Connections;
using Putsh.Protocol.Transport;
using Putsh.Router.Hosting;

// In the namespace of ASP.NET Core's own service extensions, so that it needs no extra using.
namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Gives Kestrel large I/O buffers, which a router needs for bulk transfers (<see cref="BlockMemoryPool"/>).</summary>
internal static class PutshBlockPoolServiceCollectionExtensions
{
    /// <summary>
    /// Makes Kestrel's socket transport read and write through a pool of <see cref="BlockPoolOptions.BlockSize"/>
    /// blocks instead of its own 4 KiB ones. Call after the web host builder is created (the last registration of
    /// <see cref="IMemoryPoolFactory{T}"/> wins). Applies to every listener of that server.
    /// </summary>
    /// <param name="services">The application's services.</param>
    /// <param name="configure">Changes to the defaults, if any.</param>
    /// <returns><paramref name="services"/>.</returns>
    public static IServiceCollection AddPutshBlockPool(this IServiceCollection services, Action<BlockPoolOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        var options = new BlockPoolOptions();
        configure?.Invoke(options);
        options.Validate();
        services.AddSingleton<IMemoryPoolFactory<byte>>(sp => new BlockMemoryPoolFactory(options, sp.GetService<TimeProvider>() ?? TimeProvider.System));
        return services;
    }
}
