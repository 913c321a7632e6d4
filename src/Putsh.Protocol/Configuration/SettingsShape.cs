using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Reflection;

namespace Putsh.Protocol.Configuration;

/// <summary>
/// The settings of one or more options classes, as configuration sees them: every public property of a type that
/// configuration can set (text, numbers, booleans, durations, enums and lists of text), by its property name, and how
/// a value written by a person becomes one that Microsoft.Extensions.Configuration's binder accepts. The binder does
/// the binding; this class only adds what it lacks: durations such as <c>5s</c>, <c>none</c> and <c>unlimited</c> for
/// "no value", <c>yes</c>/<c>on</c>/<c>1</c> for true, comma-separated lists in a single value, lists that replace
/// their defaults instead of appending to them, and unknown keys and malformed values reported by name.
/// </summary>
internal sealed class SettingsShape
{
    private const DynamicallyAccessedMemberTypes Members = DynamicallyAccessedMemberTypes.PublicProperties;

    private readonly Dictionary<string, PropertyInfo> _properties = new(StringComparer.OrdinalIgnoreCase);
    private readonly HashSet<string> _whole = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>The settings of <typeparamref name="T"/>.</summary>
    public static SettingsShape Of<[DynamicallyAccessedMembers(Members)] T>() => new SettingsShape().And<T>();

    /// <summary>Adds the settings of <typeparamref name="T"/>, which shares the section (a property name may appear once).</summary>
    public SettingsShape And<[DynamicallyAccessedMembers(Members)] T>()
    {
        foreach (var p in typeof(T).GetProperties(BindingFlags.Public | BindingFlags.Instance))
        {
            if (IsSetting(p) && !_properties.TryAdd(p.Name, p))
            {
                throw new InvalidOperationException($"Setting '{p.Name}' is declared twice.");
            }
        }

        return this;
    }

    /// <summary>
    /// Marks list settings whose single value is one entry, never split at commas (a registration token may hold a
    /// comma: <c>orders,payments: token</c>).
    /// </summary>
    public SettingsShape Whole(params string[] names)
    {
        foreach (var n in names)
        {
            _whole.Add(n);
        }

        return this;
    }

    /// <summary>Every setting, in declaration order of its type.</summary>
    public IEnumerable<PropertyInfo> Properties => _properties.Values;

    public PropertyInfo? Find(string name) => _properties.GetValueOrDefault(name);

    public static bool IsList(PropertyInfo p) => typeof(IEnumerable<string>).IsAssignableFrom(p.PropertyType) && p.PropertyType != typeof(string);

    /// <summary>
    /// Turns the raw value of setting <paramref name="p"/> (a single value, or the entries of a list) into what the
    /// binder reads, writing it through <paramref name="write"/> (key suffix <c>""</c> for a scalar, <c>":0"</c>,
    /// <c>":1"</c>… for entries). Returns null when it was fine, else the problem, without the setting's name.
    /// <paramref name="setNull"/> is true for <c>none</c> or <c>unlimited</c> given to a nullable number or duration.
    /// </summary>
    public string? Normalize(PropertyInfo p, string? scalar, IReadOnlyList<string>? entries, Action<string, string> write, out bool setNull)
    {
        setNull = false;
        if (IsList(p))
        {
            IReadOnlyList<string> items = entries is { Count: > 0 } ? entries : scalar is null ? [] : [scalar];
            if (!_whole.Contains(p.Name))
            {
                items = [.. items.SelectMany(i => i.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))];
            }

            if (items.Count == 1 && items[0].Trim() is "none" or "")
            {
                items = [];
            }

            for (var i = 0; i < items.Count; i++)
            {
                write(":" + i.ToString(CultureInfo.InvariantCulture), items[i]);
            }

            return null;
        }

        if (scalar is null)
        {
            return entries is { Count: > 0 } ? "expected a single value, not a list" : null;
        }

        var type = Nullable.GetUnderlyingType(p.PropertyType);
        var nullable = type is not null;
        type ??= p.PropertyType;
        var text = scalar.Trim();
        if (nullable && text is "none" or "unlimited")
        {
            setNull = true;
            return null;
        }

        if (type == typeof(TimeSpan))
        {
            if (!Durations.TryParse(text, out var d))
            {
                return $"'{scalar}' is not a duration (for example 250ms, 5s, 2m, 1h)";
            }

            write("", d.ToString("c", CultureInfo.InvariantCulture));
            return null;
        }

        if (type == typeof(bool))
        {
            var value = text.ToLowerInvariant() switch
            {
                "true" or "yes" or "on" or "1" => "true",
                "false" or "no" or "off" or "0" => "false",
                _ => null,
            };
            if (value is null)
            {
                return $"'{scalar}' is not true or false";
            }

            write("", value);
            return null;
        }

        if (type == typeof(int) || type == typeof(long))
        {
            if (!long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var n) || (type == typeof(int) && n is < int.MinValue or > int.MaxValue))
            {
                return $"'{scalar}' is not a whole number{(nullable ? " (or unlimited)" : "")}";
            }

            write("", n.ToString(CultureInfo.InvariantCulture));
            return null;
        }

        if (type.IsEnum)
        {
            if (!Enum.GetNames(type).Any(n => string.Equals(n, text, StringComparison.OrdinalIgnoreCase)))
            {
                return $"'{scalar}' is not one of {string.Join(", ", Enum.GetNames(type).Select(n => n.ToLowerInvariant()))}";
            }

            write("", text);
            return null;
        }

        write("", scalar);
        return null;
    }

    /// <summary>Empties the lists that <paramref name="present"/> names, so that binding replaces their defaults instead of appending.</summary>
    public void ClearLists(object target, IEnumerable<string> present)
    {
        foreach (var name in present)
        {
            if (Find(name) is { } p && IsList(p) && p.DeclaringType!.IsInstanceOfType(target) && p.GetValue(target) is ICollection<string> list)
            {
                list.Clear();
            }
        }
    }

    /// <summary>Unsets the settings that <paramref name="names"/> lists (given <c>none</c> or <c>unlimited</c>).</summary>
    public void SetNulls(object target, IEnumerable<string> names)
    {
        foreach (var name in names)
        {
            if (Find(name) is { } p && p.DeclaringType!.IsInstanceOfType(target))
            {
                p.SetValue(target, null);
            }
        }
    }

    /// <summary>
    /// Normalizes a merged configuration section given as a tree of keys (<paramref name="children"/> of the section,
    /// each with its value and its entries): unknown keys and bad values go to <see cref="Normalized.Problems"/>, each
    /// with its key.
    /// </summary>
    public Normalized Normalize(IEnumerable<(string Key, string? Value, IReadOnlyList<string> Entries)> children)
    {
        var result = new Normalized();
        foreach (var (key, value, entries) in children)
        {
            if (Find(key) is not { } p)
            {
                result.Problems.Add((key, "unknown setting"));
                continue;
            }

            var problem = Normalize(p, value, entries, (suffix, v) => result.Values[p.Name + suffix] = v, out var setNull);
            if (problem is not null)
            {
                result.Problems.Add((key, problem));
            }
            else if (setNull)
            {
                result.Nulls.Add(p.Name);
            }
            else
            {
                result.Present.Add(p.Name);
            }
        }

        return result;
    }

    /// <summary>What <see cref="Normalize(IEnumerable{ValueTuple{string, string, IReadOnlyList{string}}})"/> made of a section.</summary>
    internal sealed class Normalized
    {
        /// <summary>Binder-ready values by key relative to the section.</summary>
        public Dictionary<string, string?> Values { get; } = new(StringComparer.OrdinalIgnoreCase);

        /// <summary>Settings given a value (so lists among them replace their defaults).</summary>
        public List<string> Present { get; } = [];

        /// <summary>Settings given <c>none</c> or <c>unlimited</c>.</summary>
        public List<string> Nulls { get; } = [];

        /// <summary>Unknown keys and values that are wrong, by key relative to the section.</summary>
        public List<(string Key, string Problem)> Problems { get; } = [];

        /// <summary>The problems as one line each, their keys under <paramref name="path"/>.</summary>
        public IEnumerable<string> Describe(string path) => Problems.Select(p => $"{(path.Length == 0 ? p.Key : path + ":" + p.Key)}: {p.Problem}");

        /// <summary>Clears present lists and unsets nulls on <paramref name="target"/>: before binding, then after it.</summary>
        public void Prepare(SettingsShape shape, object target) => shape.ClearLists(target, Present);

        public void Finish(SettingsShape shape, object target) => shape.SetNulls(target, Nulls);
    }

    private static bool IsSetting(PropertyInfo p)
    {
        if (p.GetIndexParameters().Length > 0 || p.GetMethod is null)
        {
            return false;
        }

        if (IsList(p))
        {
            return typeof(ICollection<string>).IsAssignableFrom(p.PropertyType);
        }

        if (p.SetMethod is not { IsPublic: true })
        {
            return false;
        }

        var type = Nullable.GetUnderlyingType(p.PropertyType) ?? p.PropertyType;
        return type == typeof(string) || type == typeof(bool) || type == typeof(int) || type == typeof(long) || type == typeof(TimeSpan) || type.IsEnum;
    }
}
