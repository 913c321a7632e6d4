using System.Globalization;
using System.Text;

namespace Putsh.Protocol.Diagnostics;

/// <summary>
/// A duration as a log line shows it: <c>250ms</c>, <c>1.5s</c>, <c>2m30s</c>, <c>1h</c>, the way the options take
/// them, rather than <c>00:00:01.5000000</c>. Converts from <see cref="TimeSpan"/>, so log methods can take it in
/// place of one without their callers changing.
/// </summary>
internal readonly record struct ReadableDuration(TimeSpan Value)
{
    public static implicit operator ReadableDuration(TimeSpan value) => new(value);

    public override string ToString()
    {
        var t = Value;
        if (t < TimeSpan.Zero)
        {
            return "-" + new ReadableDuration(t.Negate());
        }

        if (t < TimeSpan.FromSeconds(1))
        {
            return t.TotalMilliseconds.ToString("0.###", CultureInfo.InvariantCulture) + "ms";
        }

        if (t < TimeSpan.FromMinutes(1))
        {
            return t.TotalSeconds.ToString("0.###", CultureInfo.InvariantCulture) + "s";
        }

        var text = new StringBuilder();
        if (t.Days > 0)
        {
            text.Append(t.Days).Append('d');
        }

        if (t.Hours > 0)
        {
            text.Append(t.Hours).Append('h');
        }

        if (t.Minutes > 0)
        {
            text.Append(t.Minutes).Append('m');
        }

        var seconds = t.Seconds + (t.Milliseconds / 1000.0);
        if (seconds > 0)
        {
            text.Append(seconds.ToString("0.###", CultureInfo.InvariantCulture)).Append('s');
        }

        return text.ToString();
    }
}

/// <summary>An exception's message with those of its inner exceptions, which often say what actually failed.</summary>
internal static class ExceptionText
{
    /// <summary><c>outer message (inner message; innermost message)</c>, each message once.</summary>
    public static string Describe(Exception exception)
    {
        var text = exception.Message;
        var inner = new List<string>();
        for (var e = exception.InnerException; e is not null; e = e.InnerException)
        {
            if (!string.IsNullOrEmpty(e.Message) && !text.Contains(e.Message, StringComparison.Ordinal) && !inner.Contains(e.Message))
            {
                inner.Add(e.Message);
            }
        }

        return inner.Count == 0 ? text : $"{text} ({string.Join("; ", inner)})";
    }
}
