using System.Net;
using Microsoft.AspNetCore.Connections;

namespace Putsh.Router.Hosting;

/// <summary>
/// The Kestrel transport for <see cref="H2cHandoffEndPoint"/>: its listeners accept the connections handed over by the
/// real listener rather than from a socket. It binds nothing else, so it coexists with the default Sockets transport:
/// Kestrel asks every registered <see cref="IConnectionListenerFactory"/> (the last registered first) whether it
/// <see cref="IConnectionListenerFactorySelector.CanBind">can bind</see> an endpoint.
/// </summary>
/// <remarks>Register it with <see cref="H2cHandoffExtensions.AddH2cHandoff"/>. It is stateless: the queue lives in the endpoint.</remarks>
internal sealed class H2cHandoffConnectionListenerFactory : IConnectionListenerFactory, IConnectionListenerFactorySelector
{
    /// <summary>True only for <see cref="H2cHandoffEndPoint"/>.</summary>
    /// <param name="endpoint">The endpoint Kestrel is about to bind.</param>
    public bool CanBind(EndPoint endpoint) => endpoint is H2cHandoffEndPoint;

    /// <summary>Starts accepting the connections handed over to <paramref name="endpoint"/>.</summary>
    /// <param name="endpoint">An <see cref="H2cHandoffEndPoint"/> not bound before.</param>
    /// <param name="cancellationToken">Not used: binding completes at once.</param>
    /// <exception cref="NotSupportedException"><paramref name="endpoint"/> is not an <see cref="H2cHandoffEndPoint"/>.</exception>
    /// <exception cref="InvalidOperationException"><paramref name="endpoint"/> has already been bound.</exception>
    public ValueTask<IConnectionListener> BindAsync(EndPoint endpoint, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(endpoint);
        if (endpoint is not H2cHandoffEndPoint handoff)
        {
            throw new NotSupportedException($"{nameof(H2cHandoffConnectionListenerFactory)} binds only {nameof(H2cHandoffEndPoint)}, not {endpoint.GetType().Name}.");
        }

        if (!handoff.TryBind())
        {
            throw new InvalidOperationException($"The h2c handoff endpoint '{handoff}' has already been bound; it can be bound once.");
        }

        return ValueTask.FromResult<IConnectionListener>(new Listener(handoff));
    }

    private sealed class Listener(H2cHandoffEndPoint endPoint) : IConnectionListener
    {
        public EndPoint EndPoint => endPoint;

        public async ValueTask<ConnectionContext?> AcceptAsync(CancellationToken cancellationToken = default)
        {
            var queue = endPoint.Queue;
            while (await queue.WaitToReadAsync(cancellationToken))
            {
                while (queue.TryRead(out var connection))
                {
                    if (connection.TryAccept())
                    {
                        return connection;
                    }
                }
            }

            // Unbound and drained: tells Kestrel's accept loop to stop.
            return null;
        }

        public ValueTask UnbindAsync(CancellationToken cancellationToken = default)
        {
            endPoint.Complete();
            return ValueTask.CompletedTask;
        }

        public ValueTask DisposeAsync()
        {
            endPoint.Complete();

            // Connections nobody will accept any more: close them so their real listener lets go of the socket.
            while (endPoint.Queue.TryRead(out var connection))
            {
                connection.Abandon(new ConnectionAbortedException("The h2c handoff listener was disposed before accepting the connection."));
            }

            return ValueTask.CompletedTask;
        }
    }
}
