namespace Putsh.Protocol.V3;

/// <summary>
/// Bytes that arrived on cranker_3.0 streams and are held until their consumers take them, counted across every
/// stream that shares the budget. At the router this is the response bytes held for all clients together: past
/// <c>RouterOptions.MaxBufferedResponseBytes</c>, streams that agreed a larger flow window acknowledge only as much
/// as keeps them within cranker_3.0's 64 KiB, so slow clients then cost 64 KiB each, not their whole window.
/// </summary>
internal sealed class InboundBudget(long limit)
{
    private long _held;

    /// <summary>Bytes held now.</summary>
    public long Held => Interlocked.Read(ref _held);

    /// <summary>The budget is used up (always, for a budget of 0: every large window is then held to 64 KiB).</summary>
    public bool IsOver => Interlocked.Read(ref _held) >= limit;

    public void Add(long bytes) => Interlocked.Add(ref _held, bytes);
}
