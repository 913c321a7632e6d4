namespace Putsh.Router.Proxy;

/// <summary>
/// The response bytes held in the router for all clients together (received from connectors, not yet written to
/// clients). Past <see cref="RouterOptions.MaxBufferedResponseBytes"/>, cranker_3.0 streams that agreed a larger
/// flow window acknowledge only as much as keeps them within cranker_3.0's 64 KiB: slow clients then cost 64 KiB each,
/// not their whole window.
/// </summary>
internal sealed class ResponseBufferBudget(long limit)
{
    private long _held;

    /// <summary>Bytes held now.</summary>
    public long Held => Interlocked.Read(ref _held);

    /// <summary>The budget is used up (always, for a budget of 0: every large window is then held to 64 KiB).</summary>
    public bool IsOver => Interlocked.Read(ref _held) >= limit;

    public void Add(long bytes) => Interlocked.Add(ref _held, bytes);
}
