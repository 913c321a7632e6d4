using System.Net.WebSockets;

namespace Putsh.Connector.Sockets;

/// <summary>A connector's socket to a router, whichever protocol it speaks.</summary>
internal interface IConnectorSocket : IDisposable
{
    /// <summary>Raised once, when a cranker_1.0 socket takes its one request (the pool then dials a replacement).</summary>
    event Action<IConnectorSocket>? Consumed;

    /// <summary>True once a cranker_1.0 socket took its request; never for cranker_3.0, whose sockets stay in the window.</summary>
    bool WasConsumed { get; }

    /// <summary>Carrying at least one request.</summary>
    bool IsBusy { get; }

    /// <summary>Runs until the socket ends. Never throws.</summary>
    Task RunAsync(CancellationToken stopping);

    /// <summary>Graceful stop: an idle socket closes now; a busy one closes when its requests are done.</summary>
    Task CloseWhenIdleAsync(WebSocketCloseStatus status, string reason);

    /// <summary>Ends the socket at once.</summary>
    void Abort();
}
