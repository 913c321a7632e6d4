using Microsoft.Extensions.Logging;
using Putsh.Router.Sockets;

namespace Putsh.Router;

/// <summary>The router's log messages. Event ids 1000–1999 belong to the router and are never reused.</summary>
internal static partial class RouterLog
{
    [LoggerMessage(1000, LogLevel.Information, "Connector {ConnectorInstanceId} ({ComponentName}, {RemoteAddress}) registered for route '{Route}' over {Protocol}.")]
    public static partial void ConnectorRegistered(ILogger logger, string connectorInstanceId, string? componentName, string remoteAddress, string route, string protocol);

    [LoggerMessage(1001, LogLevel.Debug, "Socket {SocketId} of connector {ConnectorInstanceId} joined route '{Route}'.")]
    public static partial void SocketRegistered(ILogger logger, string socketId, string connectorInstanceId, string route);

    [LoggerMessage(1002, LogLevel.Warning, "Refused a connector registration from {RemoteAddress} with {Status}: {Reason} (said once a minute per address and reason).")]
    public static partial void RegistrationRefused(ILogger logger, string remoteAddress, int status, string reason);

    [LoggerMessage(1003, LogLevel.Information, "Connector {ConnectorInstanceId} deregistered from route '{Route}': {Count} idle sockets closed.")]
    public static partial void ConnectorDeregistered(ILogger logger, string connectorInstanceId, string route, int count);

    [LoggerMessage(1004, LogLevel.Warning, "A deregistration from {RemoteAddress} named no connectorInstanceID; nothing was removed.")]
    public static partial void DeregistrationWithoutId(ILogger logger, string remoteAddress);

    [LoggerMessage(1005, LogLevel.Debug, "Socket {SocketId} on route '{Route}' ended: {End} (close {CloseStatus} '{CloseReason}').")]
    public static partial void SocketEnded(ILogger logger, string route, string socketId, SocketEnd end, int? closeStatus, string? closeReason, Exception? error);

    [LoggerMessage(1006, LogLevel.Information, "Connector {ConnectorInstanceId} has no sockets left on route '{Route}'.")]
    public static partial void ConnectorGone(ILogger logger, string connectorInstanceId, string route);

    [LoggerMessage(1010, LogLevel.Debug, "{Method} {Path}: no route, 404.")]
    public static partial void NoRoute(ILogger logger, string method, string path);

    [LoggerMessage(1011, LogLevel.Warning, "{Method} {Path}: no connector socket for route '{Route}' within {Timeout}, 503.")]
    public static partial void NoSocket(ILogger logger, string method, string path, string route, Putsh.Protocol.Diagnostics.ReadableDuration timeout);

    [LoggerMessage(1012, LogLevel.Warning, "{Method} {Path} on route '{Route}' failed: {End} {Detail}; answered {Status}.")]
    public static partial void ProxyFailed(ILogger logger, string method, string path, string route, SocketEnd end, string? detail, int status);

    [LoggerMessage(1013, LogLevel.Warning, "{Method} {Path} on route '{Route}' failed after the response began: {End} {Detail}; client connection aborted.")]
    public static partial void ProxyAborted(ILogger logger, string method, string path, string route, SocketEnd end, string? detail);

    [LoggerMessage(1014, LogLevel.Debug, "{Method} {Path}: the client went away.")]
    public static partial void ClientGone(ILogger logger, string method, string path);

    [LoggerMessage(1015, LogLevel.Warning, "{Method} {Path}: the connector sent an unusable response head: {Reason}.")]
    public static partial void BadResponseHead(ILogger logger, string method, string path, string reason);

    [LoggerMessage(1016, LogLevel.Information, "Stopping: not ready for {DrainDelay} while still serving, then requests in flight get up to {ShutdownTimeout} to finish ({Connections} client connections, {Requests} requests in flight now).")]
    public static partial void Draining(ILogger logger, Putsh.Protocol.Diagnostics.ReadableDuration drainDelay, Putsh.Protocol.Diagnostics.ReadableDuration shutdownTimeout, int connections, int requests);

    [LoggerMessage(1017, LogLevel.Information, "Drained after {Elapsed} (shutdown timeout reached: {TimedOut}, {Requests} requests still in flight); closing {Sockets} connector sockets with 1001.")]
    public static partial void Drained(ILogger logger, Putsh.Protocol.Diagnostics.ReadableDuration elapsed, bool timedOut, int requests, int sockets);

    [LoggerMessage(1018, LogLevel.Information, "Registration tokens reloaded from {File}: {Count} tokens in force from it.")]
    public static partial void TokenFileReloaded(ILogger logger, string file, int count);

    [LoggerMessage(1019, LogLevel.Warning, "Registration token file {File} could not be used: {Reason}; the previous {Count} tokens from it stay in force.")]
    public static partial void TokenFileUnusable(ILogger logger, string file, string reason, int count);

    [LoggerMessage(1020, LogLevel.Information, "{Method} {Path} (route '{Route}'): its socket broke before the request head was written ({Detail}); sending it once more on another socket.")]
    public static partial void RetryingUnsent(ILogger logger, string method, string path, string route, string? detail);

    [LoggerMessage(1021, LogLevel.Warning, "Connector {InstanceId} (route '{Route}') broke the protocol on socket {SocketId}: {Detail}. The socket is closed; its requests get 502.")]
    public static partial void ConnectorProtocolViolation(ILogger logger, string instanceId, string route, string socketId, string detail);

    [LoggerMessage(1022, LogLevel.Debug, "Route '{Route}': {Count} response trailers dropped; a {Protocol} client cannot be sent trailers.")]
    public static partial void TrailersDropped(ILogger logger, string route, int count, string protocol);

    [LoggerMessage(1023, LogLevel.Warning, "TCP route '{Route}': no connector serves it; the connection from {Client} is closed.")]
    public static partial void TcpNoConnector(ILogger logger, string route, string client);

    [LoggerMessage(1024, LogLevel.Debug, "TCP route '{Route}': the connection from {Client} ended abnormally: {Reason}.")]
    public static partial void TcpFailed(ILogger logger, string route, string client, string reason);

    [LoggerMessage(1025, LogLevel.Warning, "Connector {InstanceId}: {Failures} requests failed in a row; out of rotation for {Period} (passive health).")]
    public static partial void InstanceOutOfRotation(ILogger logger, string instanceId, int failures, TimeSpan period);

    [LoggerMessage(1026, LogLevel.Information, "Connector {InstanceId} answered again; back in rotation (passive health).")]
    public static partial void InstanceBackInRotation(ILogger logger, string instanceId);

    /// <summary>The category of the access log (<see cref="RouterOptions.AccessLog"/>), so that it can be filtered or routed on its own.</summary>
    public const string AccessCategory = "Putsh.Router.Access";

    [LoggerMessage(1030, LogLevel.Information, "{Method} {Path} {Status} {DurationMs:0.###} ms route={Route} connector={ConnectorInstanceId} in={BytesIn} out={BytesOut} error={ErrorType} trace={TraceId}")]
    public static partial void Access(ILogger logger, string method, string path, int status, double durationMs, string route, string connectorInstanceId, long bytesIn, long bytesOut, string errorType, string traceId);
}
