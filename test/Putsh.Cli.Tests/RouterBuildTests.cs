using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Putsh.Cli.Commands;
using Putsh.Router.Hosting;

namespace Putsh.Cli.Tests;

/// <summary>What <c>putsh router</c> builds from its settings, looked at before it starts.</summary>
public sealed class RouterBuildTests
{
    private static async Task<IMemoryPoolFactory<byte>?> PoolFactoryAsync(params string[] args)
    {
        var parse = Program.CreateRoot().Parse(["router", "--listen", "http://127.0.0.1:0", "--register", "http://127.0.0.1:0", .. args]);
        Assert.Empty(parse.Errors);
        var (settings, _) = RouterCommand.Resolve(parse, RouterCommand.Settings("x", "y"), new RouterSettings());
        await using var app = RouterCommand.Build(settings, LogLevel.Warning, out _);
        return app.Services.GetService<IMemoryPoolFactory<byte>>();
    }

    [Fact]
    public async Task Kestrel_gets_64_KiB_blocks_by_default()
    {
        var factory = Assert.IsType<BlockMemoryPoolFactory>(await PoolFactoryAsync());
        Assert.Equal(65536, factory.Options.BlockSize);
        Assert.Equal(16 * 1024 * 1024, factory.Options.MaxRetainedBytes);
        using var pool = factory.Create();
        Assert.Equal(65536, pool.MaxBufferSize);
    }

    [Fact]
    public async Task Block_size_and_retained_maximum_come_from_the_flags()
    {
        var factory = Assert.IsType<BlockMemoryPoolFactory>(await PoolFactoryAsync("--io-block-size", "16384", "--io-pool-max", "1048576"));
        Assert.Equal(16384, factory.Options.BlockSize);
        Assert.Equal(1048576, factory.Options.MaxRetainedBytes);
    }

    [Fact]
    public async Task Block_size_0_leaves_Kestrel_its_own_pool()
    {
        var factory = await PoolFactoryAsync("--io-block-size", "0");
        Assert.IsNotType<BlockMemoryPoolFactory>(factory);
    }
}
