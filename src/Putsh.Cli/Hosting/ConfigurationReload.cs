using System.CommandLine;
using System.Runtime.InteropServices;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.FileProviders;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Primitives;

namespace Putsh.Cli.Hosting;

/// <summary>
/// The log level of a running process, changed by <see cref="ConfigurationReload"/>: logging's filter options read it,
/// and it signals their change so that every logger takes the new level.
/// </summary>
internal sealed class LogLevelSwitch : IConfigureOptions<LoggerFilterOptions>, IOptionsChangeTokenSource<LoggerFilterOptions>, IDisposable
{
    private CancellationTokenSource _changed = new();

    private LogLevelSwitch(LogLevel level) => Level = level;

    public LogLevel Level { get; private set; }

    public string? Name => Options.DefaultName;

    public static void AddTo(IServiceCollection services, LogLevel level)
    {
        var s = new LogLevelSwitch(level);
        services.AddSingleton(s);
        services.AddSingleton<IConfigureOptions<LoggerFilterOptions>>(s);
        services.AddSingleton<IOptionsChangeTokenSource<LoggerFilterOptions>>(s);
    }

    public void Configure(LoggerFilterOptions options) => options.MinLevel = Level;

    public IChangeToken GetChangeToken() => new CancellationChangeToken(_changed.Token);

    public void Dispose() => _changed.Dispose();

    public void Set(LogLevel level)
    {
        Level = level;
        using var previous = Interlocked.Exchange(ref _changed, new CancellationTokenSource());
        previous.Cancel();
    }
}

/// <summary>
/// Reloads a running command's configuration on SIGHUP and whenever its <c>--config</c> file changes: the command's
/// <c>reload</c> applies what can change live and says what it did, which is logged; a configuration that no longer
/// checks is logged and changes nothing.
/// </summary>
internal sealed partial class ConfigurationReload : IDisposable
{
    private readonly Func<string> _reload;
    private readonly ILogger _logger;
    private readonly PosixSignalRegistration? _hangUp;
    private readonly PhysicalFileProvider? _files;
    private readonly IDisposable? _watch;
    private readonly Lock _lock = new();

    public ConfigurationReload(Option<string> config, ParseResult parse, IServiceProvider services, Func<string> reload)
    {
        _reload = reload;
        _logger = services.GetRequiredService<ILoggerFactory>().CreateLogger("Putsh.Cli.Reload");
        if (!OperatingSystem.IsWindows())
        {
            _hangUp = PosixSignalRegistration.Create(PosixSignal.SIGHUP, context =>
            {
                context.Cancel = true;
                _ = Task.Run(() => Run("SIGHUP"));
            });
        }

        if (parse.GetValue(config) is { } file)
        {
            var path = Path.GetFullPath(file);
            _files = new PhysicalFileProvider(Path.GetDirectoryName(path)!);
            var name = Path.GetFileName(path);
            _watch = ChangeToken.OnChange(() => _files.Watch(name), () => Run(file + " changed"));
        }
    }

    private void Run(string trigger)
    {
        lock (_lock)
        {
            try
            {
                Reloaded(_logger, trigger, _reload());
            }
            catch (UsageException ex)
            {
                NotReloaded(_logger, trigger, ex.Message);
            }
        }
    }

    public void Dispose()
    {
        _hangUp?.Dispose();
        _watch?.Dispose();
        _files?.Dispose();
    }

    [LoggerMessage(EventId = 1, Level = LogLevel.Warning, Message = "Configuration reloaded ({Trigger}): {What}")]
    private static partial void Reloaded(ILogger logger, string trigger, string what);

    [LoggerMessage(EventId = 2, Level = LogLevel.Error, Message = "Configuration not reloaded ({Trigger}), the running one stays: {Reason}")]
    private static partial void NotReloaded(ILogger logger, string trigger, string reason);
}
