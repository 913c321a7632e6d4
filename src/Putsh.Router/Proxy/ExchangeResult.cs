namespace Putsh.Router.Proxy;

/// <summary>How one attempt to carry a request over a connector socket ended.</summary>
internal enum ExchangeResult
{
    /// <summary>The client has its answer (a response, an error page, or an aborted connection).</summary>
    Done,

    /// <summary>Nothing was sent: the socket could take no request. Any request may be tried on another socket.</summary>
    NotSent,

    /// <summary>
    /// The connector never took the request: the socket broke while its head was being written (the connector never
    /// had it whole), or the connector closed the socket with a close frame (1000 or 1001) without a word about the
    /// request, which it does only to a socket it holds idle, and after which it may send nothing on it. Only
    /// offered when the caller allows a retry (idempotent methods, no request body); nothing was written to the
    /// client. A request the socket merely lost after its head went out is never offered again: it may have reached
    /// the backend.
    /// </summary>
    Unsent,
}
