using System.Net;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;
using Putsh.Protocol.Transport;
using Putsh.Router.Hosting;

namespace Putsh.Router.Tests.Hosting;

/// <summary>The large-block pool given to Kestrel's socket transport: reuse, bounds, eviction, and real use by Kestrel.</summary>
public sealed class BlockMemoryPoolTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    private static readonly byte[] ResponseBody = Enumerable.Range(0, 5 * 1024 * 1024 + 77).Select(i => (byte)(i * 31 + (i >> 11))).ToArray();

    private static BlockMemoryPool Pool(int blockSize = 65536, long maxRetained = 16 * 1024 * 1024, TimeProvider? time = null, TimeSpan? eviction = null) =>
        new(blockSize, maxRetained, eviction ?? TimeSpan.FromSeconds(10), time ?? new FakeTimeProvider());

    private static byte[] ArrayOf(Memory<byte> memory) =>
        MemoryMarshal.TryGetArray<byte>(memory, out var segment) ? segment.Array! : throw new InvalidOperationException("not array-backed");

    [Fact]
    public void A_block_has_the_configured_size_and_is_reused_after_it_is_returned()
    {
        using var pool = Pool(blockSize: 32768);
        var first = pool.Rent(4096);
        Assert.Equal(32768, first.Memory.Length);
        Assert.Equal(32768, pool.MaxBufferSize);
        var array = ArrayOf(first.Memory);
        first.Dispose();
        Assert.Equal(1, pool.RetainedBlocks);

        using var second = pool.Rent();
        Assert.Same(array, ArrayOf(second.Memory));
        Assert.Equal(0, pool.RetainedBlocks);
    }

    [Fact]
    public void A_returned_block_cannot_be_used_and_returning_it_twice_keeps_it_once()
    {
        using var pool = Pool();
        var block = pool.Rent();
        block.Dispose();
        block.Dispose();
        Assert.Equal(1, pool.RetainedBlocks);
        Assert.Throws<ObjectDisposedException>(() => block.Memory);
    }

    [Fact]
    public void A_request_larger_than_a_block_gets_its_own_memory_which_is_not_kept()
    {
        using var pool = Pool(blockSize: 4096);
        var big = pool.Rent(10_000);
        Assert.True(big.Memory.Length >= 10_000);
        big.Dispose();
        Assert.Equal(0, pool.RetainedBlocks);
    }

    [Fact]
    public void No_more_than_the_retained_maximum_is_kept()
    {
        using var pool = Pool(blockSize: 4096, maxRetained: 3 * 4096);
        var blocks = Enumerable.Range(0, 10).Select(_ => pool.Rent()).ToList();
        blocks.ForEach(b => b.Dispose());
        Assert.Equal(3, pool.RetainedBlocks);
    }

    [Fact]
    public void Blocks_idle_for_a_whole_period_are_let_go_half_at_a_time_and_busy_ones_are_kept()
    {
        var time = new FakeTimeProvider();
        using var pool = Pool(blockSize: 4096, time: time, eviction: TimeSpan.FromSeconds(10));
        var blocks = Enumerable.Range(0, 8).Select(_ => pool.Rent()).ToList();
        blocks.ForEach(b => b.Dispose());
        Assert.Equal(8, pool.RetainedBlocks);

        // All eight were in use during the first period: none was idle for all of it.
        time.Advance(TimeSpan.FromSeconds(10));
        Assert.Equal(8, pool.RetainedBlocks);

        time.Advance(TimeSpan.FromSeconds(10));
        Assert.Equal(4, pool.RetainedBlocks);

        // Two are rented and returned during this period: at least two of the four stay in use, so only the other two
        // were idle throughout, and one of them goes.
        pool.Rent().Dispose();
        var a = pool.Rent();
        var b = pool.Rent();
        a.Dispose();
        b.Dispose();
        time.Advance(TimeSpan.FromSeconds(10));
        Assert.Equal(3, pool.RetainedBlocks);

        time.Advance(TimeSpan.FromSeconds(10));
        time.Advance(TimeSpan.FromSeconds(10));
        time.Advance(TimeSpan.FromSeconds(10));
        Assert.Equal(0, pool.RetainedBlocks);
    }

    [Fact]
    public void A_disposed_pool_keeps_nothing_and_stops_its_timer()
    {
        var time = new FakeTimeProvider();
        var pool = Pool(time: time);
        var block = pool.Rent();
        pool.Dispose();
        block.Dispose();
        Assert.Equal(0, pool.RetainedBlocks);
        time.Advance(TimeSpan.FromMinutes(1)); // nothing to run, nothing thrown
    }

    [Theory]
    [InlineData(4095)]
    [InlineData(2 * 1024 * 1024)]
    public void A_block_size_out_of_range_is_refused(int size)
    {
        var options = new BlockPoolOptions { BlockSize = size };
        Assert.Throws<ArgumentOutOfRangeException>(options.Validate);
        Assert.Throws<ArgumentOutOfRangeException>(() => new ServiceCollection().AddPutshBlockPool(o => o.BlockSize = size));
    }

    [Fact]
    public async Task Kestrel_reads_and_writes_through_the_pool_and_every_byte_arrives_intact()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(k => k.Listen(IPAddress.Loopback, 0));
        builder.Services.AddPutshBlockPool(o => o.BlockSize = 131072);
        await using var app = builder.Build();
        app.Run(async context =>
        {
            // Hash the whole request body, then answer with that hash, the pool's block size and a large body.
            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            var buffer = new byte[10_000];
            int n;
            while ((n = await context.Request.Body.ReadAsync(buffer, context.RequestAborted)) > 0)
            {
                hash.AppendData(buffer, 0, n);
            }

            context.Response.Headers["x-request-sha256"] = Convert.ToHexString(hash.GetHashAndReset());
            context.Response.Headers["x-pool-block"] = context.Features.Get<IMemoryPoolFeature>()?.MemoryPool?.MaxBufferSize.ToString(System.Globalization.CultureInfo.InvariantCulture);
            await context.Response.Body.WriteAsync(ResponseBody, context.RequestAborted);
        });
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();

        var body = new byte[8 * 1024 * 1024 + 123];
        new Random(5).NextBytes(body);
        using var client = new HttpClient();
        using var response = await client.PostAsync(address + "/upload", new ByteArrayContent(body)).WaitAsync(Timeout);
        var received = await response.Content.ReadAsByteArrayAsync().WaitAsync(Timeout);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("131072", Assert.Single(response.Headers.GetValues("x-pool-block")));
        Assert.Equal(Convert.ToHexString(SHA256.HashData(body)), Assert.Single(response.Headers.GetValues("x-request-sha256")));
        Assert.Equal(SHA256.HashData(ResponseBody), SHA256.HashData(received));
        Assert.IsType<BlockMemoryPoolFactory>(app.Services.GetRequiredService<IMemoryPoolFactory<byte>>());
        await app.StopAsync();
    }
}
