namespace Putsh.Connector.Pool;

/// <summary>A TCP route this connector serves (the putsh <c>tcp</c> extension) and the target it connects each of its connections to.</summary>
internal sealed record TcpService(string Route, string Host, int Port);
