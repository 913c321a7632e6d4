namespace Putsh.Router.Proxy;

/// <summary>How one attempt to carry a request over a connector socket ended.</summary>
internal enum ExchangeResult
{
    /// <summary>The client has its answer (a response, an error page, or an aborted connection).</summary>
    Done,

    /// <summary>Nothing was sent: the socket could take no request. Any request may be tried on another socket.</summary>
    NotSent,

    /// <summary>
    /// The socket broke while the request head was being written, so the connector never had the whole head and
    /// cannot have acted on it. Only offered when the caller allows a retry (idempotent methods); nothing was
    /// written to the client and nothing of the request body was read. A request whose head was written is never
    /// offered again, however its socket ends: it may have reached the backend.
    /// </summary>
    Unsent,
}
