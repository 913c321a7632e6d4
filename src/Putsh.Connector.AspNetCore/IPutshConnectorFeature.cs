namespace Putsh.Connector.AspNetCore;

/// <summary>
/// A server feature (in <c>IServer.Features</c>) present once the putsh server has started: the connector that
/// serves the app, for readiness checks and diagnostics (<see cref="CrankerConnector.WaitForIdleSocketsAsync"/>,
/// <see cref="CrankerConnector.Routers"/>).
/// </summary>
public interface IPutshConnectorFeature
{
    /// <summary>The running connector. Do not stop or dispose it: the server does when the app stops.</summary>
    CrankerConnector Connector { get; }
}
