using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Putsh.Cli.Hosting;

/// <summary>
/// Where the <c>putsh</c> process runs the continuations of its socket operations. By default .NET's socket
/// engine waits on epoll in one thread and hands every completion to the thread pool, so each read or write that
/// did not finish at once costs a thread switch; a router or connector does little work per completion and mostly
/// pays for the switches. With inline completions the epoll threads (one per core) run the continuations
/// themselves, as an event loop does: on this project's benchmark rig router + connector CPU per small request
/// went from 58 to 47 µs (see <c>bench/RESULTS.md</c>).
/// </summary>
/// <remarks>
/// The switch is the runtime's <c>DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS</c> environment variable, read once
/// when the process makes its first socket, so only the executable's entry point may set it, before any socket
/// exists; a library must not (an embedding application's own code might block a socket thread). In tests the
/// variable comes from the test run's settings instead. Inline completions are safe for putsh's own processes
/// because nothing they run on a socket thread blocks: every wait is an await.
/// </remarks>
internal static class ProcessIo
{
    /// <summary>The runtime's variable for inline socket completions.</summary>
    public const string InlineCompletionsVariable = "DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS";

    private static bool s_mayConfigure;

    /// <summary>Whether socket completions run inline in this process (the variable is <c>1</c>).</summary>
    public static bool InlineCompletions => Environment.GetEnvironmentVariable(InlineCompletionsVariable) == "1";

    /// <summary>Called by <c>Main</c> only: from then on <see cref="Configure"/> may change the process.</summary>
    public static void AllowProcessConfiguration() => s_mayConfigure = true;

    /// <summary>
    /// Sets the variable for the <c>--inline-io</c> choice when the process's entry point allowed it, before the
    /// command makes its first socket; otherwise (a test host, an embedding program) leaves the process as it is.
    /// </summary>
    /// <returns>Whether the process was changed.</returns>
    public static bool Configure(bool inline)
    {
        if (!s_mayConfigure)
        {
            return false;
        }

        Environment.SetEnvironmentVariable(InlineCompletionsVariable, inline ? "1" : "0");
        return true;
    }
}

/// <summary>The executable's own log lines.</summary>
internal static partial class CliLog
{
    [LoggerMessage(1, LogLevel.Information, "Socket completions run {Mode} (--inline-io {Inline})")]
    private static partial void SocketCompletions(ILogger logger, string mode, string inline);

    /// <summary>Says at start-up where this process runs its socket completions.</summary>
    public static void IoMode(IServiceProvider services)
    {
        var logger = services.GetRequiredService<ILoggerFactory>().CreateLogger("Putsh.Cli");
        var inline = ProcessIo.InlineCompletions;
        SocketCompletions(logger, inline ? "inline on the I/O threads" : "on the thread pool", inline ? "true" : "false");
    }

    [LoggerMessage(2, LogLevel.Information, "Clients (x) on {Clients}; connector registration (y) on {Registration}; admin on {Admin}")]
    private static partial void Listening(ILogger logger, string clients, string registration, string admin);

    /// <summary>Says once the router has started which bound address serves which role.</summary>
    public static void RouterListening(IServiceProvider services, BoundListeners listeners) =>
        Listening(services.GetRequiredService<ILoggerFactory>().CreateLogger("Putsh.Cli"),
            string.Join(", ", listeners.Urls(ListenerRole.Clients)), string.Join(", ", listeners.Urls(ListenerRole.Registration)),
            listeners.Urls(ListenerRole.Admin) is { Count: > 0 } admin ? string.Join(", ", admin) : "none");

    [LoggerMessage(4, LogLevel.Information, "Connector admin on {Admin}")]
    private static partial void ConnectorAdminOn(ILogger logger, string admin);

    /// <summary>Says once the connector's admin listener is bound where it listens.</summary>
    public static void ConnectorAdminListening(IServiceProvider services, ICollection<string> urls) =>
        ConnectorAdminOn(services.GetRequiredService<ILoggerFactory>().CreateLogger("Putsh.Cli"), string.Join(", ", urls));

    [LoggerMessage(3, LogLevel.Warning, "Registration is open: any connector that reaches {Addresses} may register any route (--allow-open-registration). Give --registration-tokens, --registration-token-file, --registration-client-ca or --registration-allow instead.")]
    private static partial void OpenRegistration(ILogger logger, string addresses);

    /// <summary>Warns at start-up that anyone who can reach the registration listener may take any route.</summary>
    public static void RegistrationIsOpen(IServiceProvider services, IEnumerable<string> addresses) =>
        OpenRegistration(services.GetRequiredService<ILoggerFactory>().CreateLogger("Putsh.Cli"), string.Join(", ", addresses));
}
