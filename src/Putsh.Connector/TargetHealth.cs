namespace Putsh.Connector;

/// <summary>
/// Whether the backend has been failing every call: set by the first failure after a success (a transport error,
/// a timeout, or a 5xx response) and cleared by the next success. Requests the router reset are neither.
/// </summary>
internal sealed class TargetHealth(TimeProvider time)
{
    // 0: not failing. Otherwise the timestamp of the first failure since the last success.
    private long _failingSince;

    public void Succeeded() => Volatile.Write(ref _failingSince, 0);

    public void Failed()
    {
        var now = time.GetTimestamp();
        Interlocked.CompareExchange(ref _failingSince, now == 0 ? 1 : now, 0);
    }

    /// <summary>How long every call has failed; null while the last call succeeded (or none was made).</summary>
    public TimeSpan? FailingFor
    {
        get
        {
            var since = Volatile.Read(ref _failingSince);
            return since == 0 ? null : time.GetElapsedTime(since);
        }
    }
}
