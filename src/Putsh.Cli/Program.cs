using System.CommandLine;
using Putsh.Cli.Commands;
using Putsh.Cli.Hosting;

namespace Putsh.Cli;

/// <summary>The <c>putsh</c> executable.</summary>
internal static class Program
{
    /// <summary>
    /// Exit code for the process failing to start although its configuration is valid (<see cref="StartupException"/>):
    /// a listener's address is in use, not on this machine, or not permitted. Printed as one line, <c>putsh: …</c>.
    /// </summary>
    public const int StartupFailed = 1;

    /// <summary>
    /// Exit code for a configuration error (<see cref="UsageException"/>): a wrong flag or value, or a file named by
    /// one that is missing, unreadable or invalid (certificate, key, CA, token file, --config). Printed as one line,
    /// <c>putsh: …</c>, naming the flag or file and never a token.
    /// </summary>
    public const int UsageError = 2;

    /// <summary>Flags renamed when flags, JSON keys and the libraries' properties took one name per setting.</summary>
    private static readonly Dictionary<string, string> RenamedFlags = new(StringComparer.Ordinal)
    {
        ["--max-wait"] = "--socket-acquire-timeout",
        ["--legacy-forwarded-headers"] = "--send-legacy-forwarded-headers",
        ["--discard-client-forwarded"] = "--discard-client-forwarded-headers",
        ["--max-request-body"] = "--max-request-body-size",
        ["--max-response-head"] = "--max-response-head-size",
        ["--max-request-head"] = "--max-request-head-size",
        ["--max-buffered-response"] = "--max-buffered-response-bytes",
        ["--registrations-per-second"] = "--registrations-per-second-per-source",
        ["--max-connector-message"] = "--max-connector-message-size",
        ["--max-router-message"] = "--max-router-message-size",
        ["--registration-token"] = "--registration-tokens",
        ["--body-buffer"] = "--body-buffer-size",
        ["--router"] = "--routers",
        ["--trusted-ca"] = "--trusted-ca-file",
        ["--client-cert"] = "--client-certificate-file",
        ["--client-key"] = "--client-key-file",
    };

    public static RootCommand CreateRoot() =>
        new("putsh: Cranker reverse-connection load balancing. Services dial out to routers; clients call the routers.")
        {
            RouterCommand.Create(),
            ConnectorCommand.Create(),
            DemoCommand.Create(),
            ProbeCommand.Create(),
            CheckCommand.Create(),
        };

    public static Task<int> Main(string[] args)
    {
        ProcessIo.AllowProcessConfiguration();
        return RunAsync(args, Console.Out, Console.Error);
    }

    public static async Task<int> RunAsync(string[] args, TextWriter output, TextWriter error)
    {
        var parse = CreateRoot().Parse(args);
        if (parse.Errors.Count > 0 && args.FirstOrDefault(a => RenamedFlags.ContainsKey(a.Split('=')[0])) is { } old)
        {
            error.WriteLine($"putsh: {old.Split('=')[0]} is now {RenamedFlags[old.Split('=')[0]]}: every setting has one name, its option property's, in flags, JSON and PUTSH_ variables (docs/configuration.md).");
            return UsageError;
        }

        if (parse.Errors.Count > 0)
        {
            error.WriteLine($"putsh: {parse.Errors[0].Message} (see 'putsh {string.Join(' ', args.TakeWhile(a => !a.StartsWith('-')).Take(1))} --help')");
            return UsageError;
        }

        try
        {
            return await parse.InvokeAsync(new InvocationConfiguration
            {
                Output = output,
                Error = error,
                EnableDefaultExceptionHandler = false,
                // Signals are the commands' own (ShutdownSignals): System.CommandLine would end the process 2 s after SIGTERM.
                ProcessTerminationTimeout = null,
            });
        }
        catch (UsageException ex)
        {
            error.WriteLine("putsh: " + ex.Message);
            return UsageError;
        }
        catch (StartupException ex)
        {
            error.WriteLine("putsh: " + ex.Message);
            return StartupFailed;
        }
    }
}
