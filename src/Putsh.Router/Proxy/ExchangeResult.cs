namespace Putsh.Router.Proxy;

/// <summary>How one attempt to carry a request over a connector socket ended.</summary>
internal enum ExchangeResult
{
    /// <summary>The client has its answer (a response, an error page, or an aborted connection).</summary>
    Done,

    /// <summary>Nothing was sent: the socket could take no request. Any request may be tried on another socket.</summary>
    NotSent,

    /// <summary>
    /// The request went out, but the socket was lost (or its connector went away with 1001) before the connector said
    /// anything about it, and the request has no body: only offered when the caller allowed a retry, for idempotent
    /// methods. Nothing was written to the client.
    /// </summary>
    Unanswered,
}
