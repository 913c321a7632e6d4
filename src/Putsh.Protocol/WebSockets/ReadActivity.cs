namespace Putsh.Protocol.WebSockets;

/// <summary>
/// When bytes last arrived on a WebSocket's connection, pongs included, so that a router can tell a connector that
/// stopped answering (frozen, or behind a half-open path) from one that is merely quiet, within about one ping
/// interval.
/// </summary>
internal sealed class ReadActivity(TimeProvider time)
{
    private long _lastRead = time.GetTimestamp();

    /// <summary>Time since bytes last arrived.</summary>
    public TimeSpan Silence => time.GetElapsedTime(Volatile.Read(ref _lastRead));

    public void OnRead() => Volatile.Write(ref _lastRead, time.GetTimestamp());
}
