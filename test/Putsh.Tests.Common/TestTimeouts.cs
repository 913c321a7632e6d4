using System.Runtime.CompilerServices;

namespace Putsh.Tests.Common;

/// <summary>Outer limits for awaits in tests: a hang becomes a failure that names the line, never a stuck suite.</summary>
public static class TestTimeouts
{
    public static readonly TimeSpan Default = TimeSpan.FromSeconds(30);

    public static async Task DefaultTimeout(this Task task, [CallerFilePath] string file = "", [CallerLineNumber] int line = 0)
    {
        try
        {
            await task.WaitAsync(Default);
        }
        catch (TimeoutException)
        {
            throw new TimeoutException($"Timed out after {Default} at {Path.GetFileName(file)}:{line}");
        }
    }

    public static async Task<T> DefaultTimeout<T>(this Task<T> task, [CallerFilePath] string file = "", [CallerLineNumber] int line = 0)
    {
        try
        {
            return await task.WaitAsync(Default);
        }
        catch (TimeoutException)
        {
            throw new TimeoutException($"Timed out after {Default} at {Path.GetFileName(file)}:{line}");
        }
    }

    public static CancellationToken Token() => new CancellationTokenSource(Default).Token;
}
