using System.IO.Pipelines;
using System.Net;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Http.Features;

namespace Putsh.Router.Hosting;

/// <summary>
/// The view of a real TCP connection that the handoff listener gives to Kestrel's HTTP/2 pipeline. Everything but
/// disposal goes to the real connection; disposal only tells the real listener's pipeline that HTTP/2 is done, so that
/// pipeline (which owns the socket) can finish and close it.
/// </summary>
/// <remarks>
/// <see cref="Features"/> is a layer over the real connection's features: everything set there is visible, but what the
/// second pipeline sets (Kestrel sets its heartbeat, lifetime-notification and completion features on every connection
/// it accepts) lands in the layer and does not overwrite the real listener's own.
/// </remarks>
internal sealed class H2cHandoffConnection : ConnectionContext
{
    private const int Queued = 0;
    private const int Accepted = 1;
    private const int Abandoned = 2;

    private readonly ConnectionContext _inner;
    private readonly TaskCompletionSource _done = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _state;

    public H2cHandoffConnection(ConnectionContext inner)
    {
        _inner = inner;
        Features = new FeatureCollection(inner.Features);
    }

    public override string ConnectionId
    {
        get => _inner.ConnectionId;
        set => _inner.ConnectionId = value;
    }

    public override IFeatureCollection Features { get; }

    public override IDictionary<object, object?> Items
    {
        get => _inner.Items;
        set => _inner.Items = value;
    }

    public override IDuplexPipe Transport
    {
        get => _inner.Transport;
        set => _inner.Transport = value;
    }

    public override EndPoint? LocalEndPoint
    {
        get => _inner.LocalEndPoint;
        set => _inner.LocalEndPoint = value;
    }

    public override EndPoint? RemoteEndPoint
    {
        get => _inner.RemoteEndPoint;
        set => _inner.RemoteEndPoint = value;
    }

    public override CancellationToken ConnectionClosed
    {
        get => _inner.ConnectionClosed;
        set => _inner.ConnectionClosed = value;
    }

    /// <summary>Completes when the HTTP/2 pipeline has disposed this connection, or it was abandoned before being accepted.</summary>
    public Task Completion => _done.Task;

    public override void Abort(ConnectionAbortedException abortReason) => _inner.Abort(abortReason);

    /// <summary>Does not dispose the real connection (the base class disposes nothing): its own listener does that once <see cref="Completion"/> completes.</summary>
    public override ValueTask DisposeAsync()
    {
        _done.TrySetResult();
        return base.DisposeAsync();
    }

    /// <summary>Claims the connection for the HTTP/2 pipeline; false if it was abandoned while queued.</summary>
    public bool TryAccept() => Interlocked.CompareExchange(ref _state, Accepted, Queued) == Queued;

    /// <summary>Gives up on a connection still queued (its socket closed, or the listener went away); no-op once accepted.</summary>
    public void Abandon(ConnectionAbortedException? reason = null)
    {
        if (Interlocked.CompareExchange(ref _state, Abandoned, Queued) != Queued)
        {
            return;
        }

        if (reason is not null)
        {
            _inner.Abort(reason);
        }

        _done.TrySetResult();
    }
}
