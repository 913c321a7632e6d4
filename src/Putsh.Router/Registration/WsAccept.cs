using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Primitives;
using Putsh.Protocol.WebSockets;

namespace Putsh.Router.Registration;

/// <summary>
/// The server side of the WebSocket opening handshake (RFC 6455 §4.2) for connector registrations, answered by putsh
/// itself so that the socket is a <see cref="PutshWebSocket"/> on the upgraded connection rather than .NET's
/// WebSocket. Registrations are HTTP/1.1 upgrades, as every Cranker connector sends them.
/// </summary>
internal static class WsAccept
{
    /// <summary>An HTTP/1.1 GET asking for a version-13 WebSocket with a well-formed key (RFC 6455 §4.2.1).</summary>
    public static bool IsWebSocketRequest(HttpContext context) =>
        IsWebSocketRequest(context.Request.Method, context.Request.Headers, context.Features.Get<IHttpUpgradeFeature>() is { IsUpgradableRequest: true });

    /// <summary>
    /// The same test on a request's parts: <paramref name="upgradable"/> says the request may take over its
    /// connection (HTTP/1.1, no body).
    /// </summary>
    public static bool IsWebSocketRequest(string method, IHeaderDictionary headers, bool upgradable) =>
        upgradable
        && HttpMethods.IsGet(method)
        && WsHandshake.HasToken(headers.Upgrade.ToString(), "websocket")
        && WsHandshake.HasToken(headers.Connection.ToString(), "upgrade")
        && headers.SecWebSocketVersion.ToString() == "13"
        && IsValidKey(headers.SecWebSocketKey.ToString());

    /// <summary>
    /// A client's WebSocket request on either HTTP version: an HTTP/1.1 upgrade as above, or an HTTP/2 extended
    /// CONNECT for the <c>websocket</c> protocol (RFC 8441 §4, §5) with version 13. Read from the request itself, so
    /// that the proxy needs no WebSocket middleware in front of it (it accepts with <see cref="AcceptClientAsync"/>).
    /// </summary>
    public static bool IsClientWebSocketRequest(HttpContext context) =>
        context.Features.Get<IHttpExtendedConnectFeature>() is { IsExtendedConnect: true } connect
            ? string.Equals(connect.Protocol, "websocket", StringComparison.OrdinalIgnoreCase) && context.Request.Headers.SecWebSocketVersion.ToString() == "13"
            : IsWebSocketRequest(context);

    /// <summary>The subprotocols of <c>Sec-WebSocket-Protocol</c>, in order.</summary>
    public static string[] RequestedProtocols(StringValues values)
    {
        var list = new List<string>();
        foreach (var value in values)
        {
            foreach (var token in (value ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                list.Add(token);
            }
        }

        return [.. list];
    }

    /// <summary>Answers 101 with the accept value (and <paramref name="subProtocol"/>) and returns the socket on the upgraded connection.</summary>
    public static async Task<PutshWebSocket> AcceptAsync(HttpContext context, string? subProtocol, PutshWebSocketOptions options)
    {
        var stream = await UpgradeAsync(context, subProtocol);
        return new PutshWebSocket(WsTransport.ForStream(stream), options);
    }

    /// <summary>
    /// Accepts a client's WebSocket (putsh websocket extension) on either HTTP version: an HTTP/1.1 upgrade as for
    /// registrations, or an HTTP/2 extended CONNECT (RFC 8441: a 200 and the stream, the frames as RFC 6455's). The
    /// keep-alive is ASP.NET Core's default: an unsolicited pong every 2 minutes.
    /// </summary>
    public static async Task<PutshWebSocket> AcceptClientAsync(HttpContext context, string? subProtocol, TimeProvider time)
    {
        Stream stream;
        if (context.Features.Get<IHttpExtendedConnectFeature>() is { IsExtendedConnect: true } connect)
        {
            if (subProtocol is not null)
            {
                context.Response.Headers.SecWebSocketProtocol = subProtocol;
            }

            stream = await connect.AcceptAsync();
        }
        else
        {
            stream = await UpgradeAsync(context, subProtocol);
        }

        return new PutshWebSocket(WsTransport.ForStream(stream), new PutshWebSocketOptions
        {
            IsServer = true,
            SubProtocol = subProtocol,
            KeepAliveInterval = TimeSpan.FromMinutes(2),
            Time = time,
        });
    }

    /// <summary>The HTTP/1.1 answer (RFC 6455 §4.2.2): 101 with the accept value and the subprotocol, then the upgraded connection.</summary>
    private static Task<Stream> UpgradeAsync(HttpContext context, string? subProtocol)
    {
        var headers = context.Response.Headers;
        headers.Connection = "Upgrade";
        headers.Upgrade = "websocket";
        headers.SecWebSocketAccept = WsHandshake.ComputeAccept(context.Request.Headers.SecWebSocketKey.ToString());
        if (subProtocol is not null)
        {
            headers.SecWebSocketProtocol = subProtocol;
        }

        return context.Features.Get<IHttpUpgradeFeature>()!.UpgradeAsync();
    }

    internal static bool IsValidKey(string key)
    {
        Span<byte> bytes = stackalloc byte[18];
        return key.Length == 24 && Convert.TryFromBase64String(key, bytes, out var n) && n == 16;
    }
}
