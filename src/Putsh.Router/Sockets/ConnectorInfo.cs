namespace Putsh.Router.Sockets;

/// <summary>What a connector said about itself when it registered a socket (§1.2).</summary>
internal sealed record ConnectorInfo(string Route, string Domain, string InstanceId, string? ComponentName, string RemoteAddress, string Protocol);
