using System.Buffers;
using Microsoft.AspNetCore.Connections;
using Putsh.Protocol.Transport;

namespace Putsh.Router.Hosting;

/// <summary>Hands Kestrel's socket transport a <see cref="BlockMemoryPool"/> for each pool it asks for.</summary>
internal sealed class BlockMemoryPoolFactory(BlockPoolOptions options, TimeProvider time) : IMemoryPoolFactory<byte>
{
    public BlockPoolOptions Options { get; } = options;

    public MemoryPool<byte> Create(MemoryPoolOptions? options = null) => new BlockMemoryPool(Options.BlockSize, Options.MaxRetainedBytes, Options.EvictionPeriod, time);
}
