
namespace Putsh.Tests.Common;

/// <summary>Waits for a condition that has no event of its own, checking it every few milliseconds, within the test timeout.</summary>
public static class Eventually
{
    public static async Task True(Func<bool> condition, string what)
    {
        var deadline = DateTime.UtcNow + TestTimeouts.Default;
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException("Timed out waiting for " + what);
            }

            await Task.Delay(TimeSpan.FromMilliseconds(20));
        }
    }
}
