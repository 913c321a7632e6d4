using Microsoft.Extensions.Logging;
using Xunit.Abstractions;

namespace Putsh.Tests.Common;

/// <summary>Sends router, connector and backend logs to the test's output, so a failing run shows them interleaved.</summary>
public sealed class XunitLoggerProvider(ITestOutputHelper output, string prefix) : ILoggerProvider
{
    public ILogger CreateLogger(string categoryName) => new Logger(output, prefix, categoryName);

    public void Dispose()
    {
    }

    private sealed class Logger(ITestOutputHelper output, string prefix, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Debug;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            try
            {
                output.WriteLine($"{DateTime.UtcNow:HH:mm:ss.fff} {prefix} {logLevel} {category}: {formatter(state, exception)}{(exception is null ? "" : " " + exception)}");
            }
            catch (InvalidOperationException)
            {
                // The test already finished; its output helper no longer accepts lines.
            }
        }
    }
}
