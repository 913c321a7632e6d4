using System.Globalization;

namespace Putsh.Protocol.Configuration;

/// <summary>Durations as people write them: <c>250ms</c>, <c>5s</c>, <c>2m</c>, <c>1h</c>, or <c>hh:mm:ss</c>.</summary>
internal static class Durations
{
    public static bool TryParse(string? text, out TimeSpan value)
    {
        value = default;
        if (string.IsNullOrWhiteSpace(text))
        {
            return false;
        }

        text = text.Trim();
        (string Suffix, double Ms)[] units = [("ms", 1), ("s", 1000), ("m", 60_000), ("h", 3_600_000)];
        foreach (var (suffix, ms) in units)
        {
            if (text.EndsWith(suffix, StringComparison.OrdinalIgnoreCase)
                && double.TryParse(text.AsSpan(0, text.Length - suffix.Length), NumberStyles.Float, CultureInfo.InvariantCulture, out var n)
                && n >= 0)
            {
                value = TimeSpan.FromMilliseconds(n * ms);
                return true;
            }
        }

        return TimeSpan.TryParse(text, CultureInfo.InvariantCulture, out value) && value >= TimeSpan.Zero;
    }

    public static string Format(TimeSpan value) => value.TotalMilliseconds switch
    {
        var ms when ms % 3_600_000 == 0 && ms > 0 => $"{ms / 3_600_000}h",
        var ms when ms % 60_000 == 0 && ms > 0 => $"{ms / 60_000}m",
        var ms when ms % 1000 == 0 => $"{ms / 1000}s",
        var ms => $"{ms}ms",
    };
}
