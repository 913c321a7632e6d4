using Microsoft.Extensions.Logging;

namespace Putsh.Connector;

/// <summary>The connector's log messages. Event ids 2000–2999 belong to the connector and are never reused.</summary>
internal static partial class ConnectorLog
{
    [LoggerMessage(2000, LogLevel.Information, "Registered with router {Router} for route '{Route}' over {Protocol} ({Sockets} sockets).")]
    public static partial void Registered(ILogger logger, string router, string route, string protocol, int sockets);

    [LoggerMessage(2001, LogLevel.Warning, "Cannot connect to router {Router}: {Error}. Retrying in {Delay}.")]
    public static partial void ConnectFailed(ILogger logger, string router, string error, Putsh.Protocol.Diagnostics.ReadableDuration delay);

    [LoggerMessage(2002, LogLevel.Debug, "Still cannot connect to router {Router} (attempt {Attempt}): {Error}. Retrying in {Delay}.")]
    public static partial void ConnectStillFailing(ILogger logger, string router, int attempt, string error, Putsh.Protocol.Diagnostics.ReadableDuration delay);

    [LoggerMessage(2003, LogLevel.Information, "Deregistered from router {Router}: {Outcome}.")]
    public static partial void Deregistered(ILogger logger, string router, string outcome);

    [LoggerMessage(2004, LogLevel.Information, "Router {Router} added (resolved from {Configured}).")]
    public static partial void RouterAdded(ILogger logger, string router, string configured);

    [LoggerMessage(2005, LogLevel.Information, "Router {Router} no longer resolves from {Configured}; deregistering.")]
    public static partial void RouterRemoved(ILogger logger, string router, string configured);

    [LoggerMessage(2006, LogLevel.Warning, "Cannot resolve router host {Host}: {Error}. Keeping the routers already known.")]
    public static partial void ResolveFailed(ILogger logger, string host, string error);

    [LoggerMessage(2007, LogLevel.Error, "Router {Router} refused this connector's registration: {Refusal}. Check the token or client certificate; retrying in {Delay}.")]
    public static partial void RegistrationRefused(ILogger logger, string router, string refusal, Putsh.Protocol.Diagnostics.ReadableDuration delay);

    [LoggerMessage(2008, LogLevel.Information, "Token file {File} changed; sockets dialled from now on present the new token.")]
    public static partial void TokenFileReloaded(ILogger logger, string file);

    [LoggerMessage(2010, LogLevel.Debug, "{Method} {Target} -> {Status}.")]
    public static partial void Forwarded(ILogger logger, string method, string target, int status);

    [LoggerMessage(2011, LogLevel.Warning, "{Method} {Target}: the target failed: {Error}.")]
    public static partial void TargetFailed(ILogger logger, string method, string target, string error);

    [LoggerMessage(2012, LogLevel.Debug, "{Method} {Target}: the router closed the socket ({Status}); target call stopped.")]
    public static partial void RouterClosed(ILogger logger, string method, string target, int? status);

    [LoggerMessage(2013, LogLevel.Warning, "Router {Router} sent an unusable request head: {Error}.")]
    public static partial void BadRequestHead(ILogger logger, string router, string error);

    [LoggerMessage(2014, LogLevel.Information, "Stopping: deregistering from {Count} routers and waiting up to {Timeout} for {InFlight} requests in flight.")]
    public static partial void Stopping(ILogger logger, int count, Putsh.Protocol.Diagnostics.ReadableDuration timeout, int inFlight);

    [LoggerMessage(2015, LogLevel.Warning, "Stop timed out with {InFlight} requests still in flight; their sockets were closed.")]
    public static partial void StopTimedOut(ILogger logger, int inFlight);

    [LoggerMessage(2018, LogLevel.Warning, "The target failed its health check {Path} twice in a row ({Detail}): deregistering from every router until it passes.")]
    public static partial void TargetUnhealthy(ILogger logger, string path, string detail);

    [LoggerMessage(2019, LogLevel.Information, "The target passed its health check {Path}: registering again.")]
    public static partial void TargetHealthy(ILogger logger, string path);

    [LoggerMessage(2016, LogLevel.Warning, "TCP route '{Route}': could not connect to {Target}: {Error}.")]
    public static partial void TcpTargetFailed(ILogger logger, string route, string target, string error);

    [LoggerMessage(2017, LogLevel.Debug, "TCP route '{Route}': a connection to {Target} ended abnormally: {Reason}.")]
    public static partial void TcpRelayFailed(ILogger logger, string route, string target, string reason);
}
