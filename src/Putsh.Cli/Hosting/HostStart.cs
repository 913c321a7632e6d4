using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Putsh.Cli.Hosting;

/// <summary>
/// The configuration is valid, but the process could not start: a listener's address is in use, not on this machine,
/// or not permitted. The CLI prints its message as one line and exits with <see cref="Program.StartupFailed"/> (1).
/// </summary>
internal sealed class StartupException(string message, Exception innerException) : Exception(message, innerException);

/// <summary>
/// Starts the hosts of a command so that a listener that cannot bind ends the process with one line naming it,
/// rather than an unhandled exception: the socket transport's bind is watched for the address that failed, and the
/// host's own report of that failure (a log line with the stack trace) is left out. Only the start is watched;
/// errors after it, and any other start failure, are reported as before.
/// </summary>
internal static class HostStart
{
    private const string HostCategory = "Microsoft.Extensions.Hosting.Internal.Host";

    // The start under way on this async flow: the bind and the host's log of its failure both happen within it.
    private static readonly AsyncLocal<Attempt?> Current = new();

    /// <summary>Makes the socket transport's binds observable by <see cref="StartAsync"/>; elsewhere (tests) it binds as Kestrel does.</summary>
    public static void WatchBinds(SocketTransportOptions options) => options.CreateBoundListenSocket = CreateBoundListenSocket;

    /// <summary>Leaves out the host's log of a start failure that <see cref="StartAsync"/> reports itself; other host logs at Warning and above stay.</summary>
    public static void FilterHostLog(ILoggingBuilder logging) =>
        logging.AddFilter(HostCategory, level => level >= LogLevel.Warning && Current.Value?.Error is null);

    /// <summary>
    /// Starts <paramref name="host"/>; when one of its listeners cannot bind, throws a <see cref="StartupException"/>
    /// that names it through <paramref name="describe"/> (for example <c>http://127.0.0.1:8080 (--listen)</c>).
    /// </summary>
    public static async Task StartAsync(IHost host, Func<EndPoint, string> describe, CancellationToken cancellationToken)
    {
        var attempt = new Attempt();
        Current.Value = attempt;
        try
        {
            await host.StartAsync(cancellationToken);
        }
        catch (Exception ex) when (attempt is { Error: { } error, EndPoint: { } endpoint })
        {
            throw new StartupException($"cannot listen on {describe(endpoint)}: {error.Message}.", ex);
        }
        finally
        {
            Current.Value = null;
        }
    }

    private static Socket CreateBoundListenSocket(EndPoint endpoint)
    {
        try
        {
            return SocketTransportOptions.CreateDefaultBoundListenSocket(endpoint);
        }
        catch (SocketException ex) when (Current.Value is { } attempt)
        {
            (attempt.EndPoint, attempt.Error) = (endpoint, ex);
            throw;
        }
    }

    private sealed class Attempt
    {
        public EndPoint? EndPoint { get; set; }

        public SocketException? Error { get; set; }
    }
}
