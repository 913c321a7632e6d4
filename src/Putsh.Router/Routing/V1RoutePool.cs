using Putsh.Router.Sockets;

namespace Putsh.Router.Routing;

/// <summary>
/// The cranker_1.0 sockets of one route (§3.3): a FIFO of idle sockets and a FIFO of requests waiting for one.
/// A socket that registers while requests wait goes straight to the oldest waiter.
/// </summary>
internal sealed class V1RoutePool(string route, TimeProvider time)
{
    private readonly Lock _lock = new();
    private readonly LinkedList<RouterSocketV1> _idle = new();
    private readonly LinkedList<TaskCompletionSource<RouterSocketV1>> _waiters = new();
    private long _emptySince = time.GetTimestamp();

    public string Route { get; } = route;

    public int IdleCount
    {
        get
        {
            lock (_lock)
            {
                return _idle.Count;
            }
        }
    }

    public int WaitingCount
    {
        get
        {
            lock (_lock)
            {
                return _waiters.Count;
            }
        }
    }

    /// <summary>True when the route has idle sockets or waiters, or lost its last one less than <paramref name="keepTime"/> ago.</summary>
    public bool IsLive(TimeSpan keepTime)
    {
        lock (_lock)
        {
            return _idle.Count > 0 || _waiters.Count > 0 || time.GetElapsedTime(_emptySince) < keepTime;
        }
    }

    /// <summary>Offers a socket: to the oldest waiter if any, else to the back of the idle queue.</summary>
    public void Offer(RouterSocketV1 socket)
    {
        if (!socket.IsIdle)
        {
            return;
        }

        lock (_lock)
        {
            while (_waiters.First is { } first)
            {
                _waiters.RemoveFirst();
                if (first.Value.TrySetResult(socket))
                {
                    return;
                }
            }

            _idle.AddLast(socket);
        }
    }

    /// <summary>Takes a socket out of the idle queue (it closed, or its connector deregistered).</summary>
    public bool Remove(RouterSocketV1 socket)
    {
        lock (_lock)
        {
            var removed = _idle.Remove(socket);
            if (removed && _idle.Count == 0)
            {
                _emptySince = time.GetTimestamp();
            }

            return removed;
        }
    }

    /// <summary>Removes and returns the idle sockets of one connector instance (§1.9).</summary>
    public List<RouterSocketV1> RemoveInstance(string connectorInstanceId)
    {
        var removed = new List<RouterSocketV1>();
        lock (_lock)
        {
            for (var node = _idle.First; node is not null;)
            {
                var next = node.Next;
                if (node.Value.ConnectorInstanceId == connectorInstanceId)
                {
                    removed.Add(node.Value);
                    _idle.Remove(node);
                }

                node = next;
            }

            if (removed.Count > 0 && _idle.Count == 0)
            {
                _emptySince = time.GetTimestamp();
            }
        }

        return removed;
    }

    public List<RouterSocketV1> RemoveAll()
    {
        lock (_lock)
        {
            var all = _idle.ToList();
            _idle.Clear();
            _emptySince = time.GetTimestamp();
            return all;
        }
    }

    /// <summary>
    /// Takes the oldest idle socket, or waits up to <paramref name="timeout"/> for one. Returns null on timeout.
    /// If <paramref name="cancellationToken"/> fires (the client left), any socket handed over meanwhile goes back
    /// to the pool unused, and <see cref="OperationCanceledException"/> is thrown: such a request never reaches a backend.
    /// </summary>
    public async ValueTask<RouterSocketV1?> AcquireAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        TaskCompletionSource<RouterSocketV1>? waiter = null;
        LinkedListNode<TaskCompletionSource<RouterSocketV1>>? node = null;
        RouterSocketV1? found = null;
        List<RouterSocketV1>? silent = null;
        lock (_lock)
        {
            while (_idle.First is { } first)
            {
                _idle.RemoveFirst();
                if (_idle.Count == 0)
                {
                    _emptySince = time.GetTimestamp();
                }

                if (first.Value.IsIdle)
                {
                    if (first.Value.IsResponsive)
                    {
                        found = first.Value;
                        break;
                    }

                    // Its connector stopped answering pings: the socket goes, and the connector (if it wakes) dials anew.
                    (silent ??= []).Add(first.Value);
                }
            }

            if (found is null && timeout > TimeSpan.Zero)
            {
                waiter = new TaskCompletionSource<RouterSocketV1>(TaskCreationOptions.RunContinuationsAsynchronously);
                node = _waiters.AddLast(waiter);
            }
        }

        if (silent is not null)
        {
            foreach (var socket in silent)
            {
                socket.Abort();
            }
        }

        if (found is not null || waiter is null || node is null)
        {
            return found;
        }

        try
        {
            return await waiter.Task.WaitAsync(timeout, time, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is TimeoutException or OperationCanceledException)
        {
            bool stillWaiting;
            lock (_lock)
            {
                stillWaiting = node.List is not null;
                if (stillWaiting)
                {
                    _waiters.Remove(node);
                }
            }

            if (!stillWaiting)
            {
                // A socket was handed to us just as we gave up.
                var socket = await waiter.Task.ConfigureAwait(false);
                if (ex is TimeoutException)
                {
                    return socket;
                }

                Offer(socket);
            }

            if (ex is TimeoutException)
            {
                return null;
            }

            throw;
        }
    }
}
