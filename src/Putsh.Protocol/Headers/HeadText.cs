using System.Buffers;
using System.Text;

namespace Putsh.Protocol.Headers;

/// <summary>
/// Builds the text heads that cross a Cranker socket (§2.1, §2.2): LF line ends, <c>name:value</c> with no
/// space, one line per value. Strict in what it writes: a name or value that would break the framing
/// (CR, LF, or a colon in a name) is dropped rather than sent.
/// </summary>
internal sealed class HeadText
{
    [ThreadStatic]
    private static StringBuilder? t_cached;

    private readonly StringBuilder _sb;

    private HeadText(StringBuilder sb) => _sb = sb;

    /// <summary>Starts a request head: <c>METHOD SP target SP HTTP/1.1 LF</c>.</summary>
    public static HeadText ForRequest(string method, string target)
    {
        var head = new HeadText(Rent());
        head._sb.Append(method).Append(' ').Append(target).Append(" HTTP/1.1\n");
        return head;
    }

    /// <summary>Starts a response head: <c>HTTP/1.1 SP status SP reason LF</c>.</summary>
    public static HeadText ForResponse(int status, string? reason)
    {
        var head = new HeadText(Rent());
        head._sb.Append("HTTP/1.1 ").Append(status).Append(' ');
        head._sb.Append(string.IsNullOrEmpty(reason) || !HeaderRules.IsSafeValue(reason) ? "-" : reason).Append('\n');
        return head;
    }

    /// <summary>Appends <c>name:value LF</c>, or nothing when either would corrupt the head.</summary>
    public bool Add(string name, string? value) => Add(name, value.AsSpan());

    /// <summary>Appends <c>name:value LF</c> from a value the caller formatted into a buffer, or nothing when either would corrupt the head.</summary>
    public bool Add(string name, ReadOnlySpan<char> value)
    {
        if (name.Length == 0 || !IsSafeName(name) || !HeaderRules.IsSafeValue(value))
        {
            return false;
        }

        _sb.Append(name).Append(':').Append(value).Append('\n');
        return true;
    }

    /// <summary>
    /// Appends <c>lowercase(name):value LF</c> as <c>Add(name.ToLowerInvariant(), value)</c> would, without
    /// allocating the lowercase name when it is ASCII and at most 128 characters long (header names always are).
    /// </summary>
    public bool AddLowercaseName(string name, string? value)
    {
        Span<char> lower = stackalloc char[128];
        if (name.Length > lower.Length || Ascii.ToLower(name, lower, out var length) != OperationStatus.Done)
        {
            return Add(name.ToLowerInvariant(), value); // long or non-ASCII: the string way, same result
        }

        lower = lower[..length];
        if (length == 0 || !IsSafeName(lower) || !HeaderRules.IsSafeValue(value))
        {
            return false;
        }

        _sb.Append(lower).Append(':').Append(value).Append('\n');
        return true;
    }

    /// <summary>Ends the head. A request head gets its blank line and then <paramref name="v1Marker"/> if given.</summary>
    public string ToRequestString(string? v1Marker)
    {
        _sb.Append('\n');
        if (v1Marker is not null)
        {
            _sb.Append(v1Marker);
        }

        return Return();
    }

    /// <summary>Ends a response head; like jconn we send no trailing blank line (§2.2).</summary>
    public string ToResponseString() => Return();

    /// <summary>Current length in characters, to enforce head size limits.</summary>
    public int Length => _sb.Length;

    private string Return()
    {
        var s = _sb.ToString();
        if (_sb.Capacity <= 64 * 1024)
        {
            _sb.Clear();
            t_cached = _sb;
        }

        return s;
    }

    private static StringBuilder Rent()
    {
        var sb = t_cached;
        if (sb is null)
        {
            return new StringBuilder(1024);
        }

        t_cached = null;
        return sb;
    }

    private static bool IsSafeName(ReadOnlySpan<char> name)
    {
        foreach (var c in name)
        {
            if (c is '\r' or '\n' or ':' or ' ' or '\t' || c > 0x7E || c < 0x21)
            {
                return false;
            }
        }

        return true;
    }
}
