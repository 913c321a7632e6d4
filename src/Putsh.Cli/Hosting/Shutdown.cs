using System.Runtime.InteropServices;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Putsh.Cli.Hosting;

/// <summary>
/// The executable's stop signals. The first SIGTERM or Ctrl-C (SIGINT) starts a graceful stop, which each command
/// bounds by its own <c>--shutdown-timeout</c>; a second one ends the process at once, by the signal's default action.
/// System.CommandLine's own handling is off (it would end the process two seconds after the first signal), and so is
/// the generic host's console lifetime, so that one process-wide decision applies to every host a command runs.
/// </summary>
internal sealed class ShutdownSignals : IDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private readonly PosixSignalRegistration[] _registrations;
    private int _signals;

    public ShutdownSignals()
    {
        _registrations =
        [
            PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal),
            PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal),
        ];
    }

    /// <summary>Cancelled at the first stop signal.</summary>
    public CancellationToken Stopping => _stop.Token;

    /// <summary>Completes when the first stop signal arrives, or when <paramref name="alsoWhen"/> is cancelled.</summary>
    public async Task WaitAsync(CancellationToken alsoWhen)
    {
        using var either = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token, alsoWhen);
        try
        {
            await Task.Delay(Timeout.InfiniteTimeSpan, TimeProvider.System, either.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
    }

    private void OnSignal(PosixSignalContext context)
    {
        if (Interlocked.Increment(ref _signals) == 1)
        {
            // Handled: the process stays up and stops gracefully. Off the signal thread, which must return quickly.
            context.Cancel = true;
            _ = Task.Run(_stop.Cancel);
        }
        else
        {
            // Not handled: the runtime's default action for the signal ends the process now.
            context.Cancel = false;
            Console.Error.WriteLine($"putsh: second {context.Signal}, stopping now without waiting for requests in flight.");
        }
    }

    public void Dispose()
    {
        foreach (var r in _registrations)
        {
            r.Dispose();
        }

        _stop.Dispose();
    }

    /// <summary>Replaces the host's console lifetime, which would otherwise take the signals for itself.</summary>
    public static void UseFor(IServiceCollection services) => services.AddSingleton<IHostLifetime, CommandLifetime>();

    /// <summary>A host lifetime that leaves signals to <see cref="ShutdownSignals"/>: the command stops the host.</summary>
    private sealed class CommandLifetime : IHostLifetime
    {
        public Task WaitForStartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
