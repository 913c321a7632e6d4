using System.Net;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Http;

namespace Putsh.Router.Registration;

/// <summary>
/// What a registration is decided on: the parts of the request the checks read, taken from an
/// <see cref="HttpContext"/> or from a request head read below HTTP (<see cref="Hosting.RegistrationConnections.UsePutshRegistrationConnections"/>).
/// </summary>
internal sealed class RegistrationRequest
{
    public required PathString Path { get; init; }

    /// <summary>Whether this is a deregistration (<c>/deregister</c>) rather than a registration (<c>/register</c>).</summary>
    public bool IsDeregister { get; init; }

    public required IHeaderDictionary Headers { get; init; }

    public required IQueryCollection Query { get; init; }

    /// <summary>The peer's address; null when the request did not come over a network (an in-memory server).</summary>
    public IPAddress? RemoteAddress { get; init; }

    public X509Certificate2? ClientCertificate { get; init; }

    /// <summary>Whether the request is a well-formed WebSocket upgrade (<see cref="WsAccept.IsWebSocketRequest(string, IHeaderDictionary, bool)"/>).</summary>
    public bool IsWebSocket { get; init; }

    /// <summary>The request of <paramref name="context"/>; <paramref name="deregister"/> null means "as its path says".</summary>
    public static RegistrationRequest From(HttpContext context, bool? deregister = null) => new()
    {
        Path = context.Request.Path,
        IsDeregister = deregister ?? IsDeregisterPath(context.Request.Path),
        Headers = context.Request.Headers,
        Query = context.Request.Query,
        RemoteAddress = context.Connection.RemoteIpAddress,
        ClientCertificate = context.Connection.ClientCertificate,
        IsWebSocket = WsAccept.IsWebSocketRequest(context),
    };

    public static bool IsDeregisterPath(PathString path) => path.Value is "/deregister" or "/deregister/";
}
