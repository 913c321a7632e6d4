using System.CommandLine;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;
using Putsh.Cli.Hosting;

namespace Putsh.Cli.Commands;

/// <summary>Options every command has: <c>--config</c>, <c>--log-level</c> and <c>--inline-io</c>, and how configuration is layered.</summary>
internal static class CommonOptions
{
    public static readonly Option<string> Config = new("--config")
    {
        Description = "JSON file of settings ({\"Router\": {\"SocketAcquireTimeout\": \"5s\"}}: each flag's name in PascalCase under Router or Connector; see docs/configuration.md); PUTSH_ environment variables (PUTSH_Router__SocketAcquireTimeout) override it, flags override both [default: none]",
    };

    public static readonly Option<string> Level = new("--log-level")
    {
        Description = "Trace, Debug, Information, Warning, Error or None [default: Information] (config LogLevel)",
    };

    public static readonly Option<string> FormatOption = new("--log-format")
    {
        Description = "text (one line per entry) or json (one JSON object per line, Microsoft.Extensions.Logging's JSON console format) [default: text] (config LogFormat)",
    };

    /// <summary>Log entries as JSON objects: set by <see cref="ConfigureProcessIo"/> from <c>--log-format</c>, read by <see cref="ConfigureLogging"/>.</summary>
    public static bool JsonLogs { get; private set; }

    public static readonly Option<string> InlineIoOption = new("--inline-io")
    {
        Description = "run socket completions on the I/O threads (and, in a router, Kestrel's request processing) instead of handing each to the thread pool; fewer thread switches per request [default: true] (config InlineIo)",
        Arity = ArgumentArity.ZeroOrOne,
    };

    public static void AddTo(Command command, SettingTable settings)
    {
        foreach (var s in settings.Settings)
        {
            command.Options.Add(s.Option);
        }

        command.Options.Add(Config);
        command.Options.Add(Level);
        command.Options.Add(FormatOption);
        command.Options.Add(InlineIoOption);
    }

    /// <summary>Every section a configuration may hold, for checking its keys whichever command reads it.</summary>
    public static IReadOnlyList<SettingTable> KnownSections() => [RouterCommand.Settings("", ""), ConnectorCommand.Settings()];

    /// <summary>
    /// The <c>--config</c> file &lt; <c>PUTSH_</c> variables (<c>PUTSH_Router__SocketAcquireTimeout</c>) &lt; the flags of
    /// <paramref name="command"/>; unknown keys in any of them are refused (see <see cref="CliConfiguration"/>).
    /// </summary>
    public static CliConfiguration LoadConfiguration(ParseResult parse, SettingTable? command = null) =>
        CliConfiguration.Load(parse, Config, command, KnownSections());

    public static LogLevel LogLevel(ParseResult parse, IConfiguration configuration)
    {
        var text = parse.GetValue(Level) ?? configuration["LogLevel"] ?? "Information";
        return Enum.TryParse<LogLevel>(text, ignoreCase: true, out var level) && Enum.IsDefined(level)
            ? level
            : throw new UsageException($"--log-level: '{text}' is not one of Trace, Debug, Information, Warning, Error, None.");
    }

    /// <summary>The <c>--inline-io</c> choice: the flag (bare means true), else <c>InlineIo</c> in configuration, else true.</summary>
    public static bool InlineIo(ParseResult parse, IConfiguration configuration)
    {
        var result = parse.GetResult(InlineIoOption);
        var text = result is not null && !result.Implicit ? parse.GetValue(InlineIoOption) ?? "true" : configuration["InlineIo"] ?? "true";
        return text.ToLowerInvariant() switch
        {
            "true" or "yes" or "on" or "1" => true,
            "false" or "no" or "off" or "0" => false,
            _ => throw new UsageException($"--inline-io: '{text}' is not true or false."),
        };
    }

    /// <summary>
    /// Applies <c>--inline-io</c> to the process, from the configuration the command already loaded, before the
    /// command makes its first socket (see <see cref="ProcessIo"/>; outside the executable's <c>Main</c> it changes nothing).
    /// </summary>
    public static void ConfigureProcessIo(ParseResult parse, IConfiguration configuration)
    {
        ProcessIo.Configure(InlineIo(parse, configuration));
        var format = parse.GetValue(FormatOption) ?? configuration["LogFormat"] ?? "text";
        JsonLogs = format.ToLowerInvariant() switch
        {
            "text" => false,
            "json" => true,
            _ => throw new UsageException($"--log-format: '{format}' is not text or json."),
        };
    }

    public static void ConfigureLogging(ILoggingBuilder logging, LogLevel level)
    {
        logging.ClearProviders();
        if (JsonLogs)
        {
            logging.AddJsonConsole(o =>
            {
                o.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ";
                o.UseUtcTimestamp = true;
                o.JsonWriterOptions = new System.Text.Json.JsonWriterOptions { Indented = false };
            });
        }
        else
        {
            logging.AddSimpleConsole(o =>
            {
                o.SingleLine = true;
                o.TimestampFormat = "HH:mm:ss.fff ";
            });
        }

        // The console logger writes from a queue of its own; by default a full queue makes the logging thread wait.
        // With --inline-io that thread may be the epoll thread that runs every socket of the process, so a burst
        // of log lines to a slow terminal or pipe would stall all traffic: drop lines instead (the logger counts
        // and reports what it dropped).
        logging.Services.Configure<ConsoleLoggerOptions>(o => o.QueueFullMode = ConsoleLoggerQueueFullMode.DropWrite);
        logging.SetMinimumLevel(level);
        // The framework's own chatter stays at Warning.
        logging.AddFilter("Microsoft", Microsoft.Extensions.Logging.LogLevel.Warning);
        HostStart.FilterHostLog(logging);
        // The host's own start-up lines ("Now listening on", which also names the internal h2c hand-off address) say less
        // than putsh's own line of which address serves what, so only its warnings are kept.
        logging.AddFilter("Microsoft.Hosting.Lifetime", level <= Microsoft.Extensions.Logging.LogLevel.Warning ? Microsoft.Extensions.Logging.LogLevel.Warning : level);
        logging.AddFilter("System.Net.Http", Microsoft.Extensions.Logging.LogLevel.Warning);

        // While this category is enabled at any level, ASP.NET Core starts an Activity and a log scope for every
        // request (and every connector registration, which holds them for the socket's life). Below Debug it only
        // duplicates Kestrel's own error logs, so it is off: fewer allocations per request and per idle socket.
        logging.AddFilter("Microsoft.AspNetCore.Hosting.Diagnostics", level <= Microsoft.Extensions.Logging.LogLevel.Debug ? Microsoft.Extensions.Logging.LogLevel.Information : Microsoft.Extensions.Logging.LogLevel.None);

        // Last, so that a reloaded log level (ConfigurationReload) wins over SetMinimumLevel above.
        LogLevelSwitch.AddTo(logging.Services, level);
    }
}
