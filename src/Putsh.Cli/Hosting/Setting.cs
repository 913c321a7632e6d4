using System.CommandLine;
using System.Globalization;
using System.Reflection;
using System.Text;
using Putsh.Protocol.Configuration;

namespace Putsh.Cli.Hosting;

/// <summary>A wrong option or value: the CLI prints its message as one line and exits with code 2.</summary>
internal sealed class UsageException(string message) : Exception(message);

/// <summary>
/// One setting of a command under one name: the property <see cref="Name"/> of an options class is also the JSON key
/// (<c>{"Router": {"SocketAcquireTimeout": "5s"}}</c>), the environment variable
/// (<c>PUTSH_Router__SocketAcquireTimeout=5s</c>) and, in kebab case, the flag (<c>--socket-acquire-timeout 5s</c>);
/// flags win over variables, which win over the file. The values are bound by the configuration binder
/// (<see cref="CliConfiguration"/>); a setting only describes itself.
/// </summary>
internal sealed class Setting
{
    public Setting(string section, PropertyInfo property, string description, string defaultText, string? was)
    {
        Section = section;
        Name = property.Name;
        Property = property;
        Description = description;
        DefaultText = defaultText;
        Was = was;
        Flag = "--" + Kebab(Name);
        IsList = SettingsShape.IsList(property);
        IsFlag = (Nullable.GetUnderlyingType(property.PropertyType) ?? property.PropertyType) == typeof(bool);
        Option = IsList
            ? new Option<string[]>(Flag) { Description = Help, AllowMultipleArgumentsPerToken = false, Arity = ArgumentArity.OneOrMore }
            : IsFlag
                ? new Option<string>(Flag) { Description = Help, Arity = ArgumentArity.ZeroOrOne }
                : new Option<string>(Flag) { Description = Help };
    }

    /// <summary>The configuration section: <c>Router</c> or <c>Connector</c>.</summary>
    public string Section { get; }

    /// <summary>The property name, which is also the key in <see cref="Section"/>.</summary>
    public string Name { get; }

    public PropertyInfo Property { get; }

    public string Flag { get; }

    public string Key => Section + ":" + Name;

    public string EnvironmentVariable => "PUTSH_" + Section + "__" + Name;

    public string Description { get; }

    public string DefaultText { get; }

    /// <summary>The key this setting had before one name was used everywhere, so that a file or flag using it is told the new one.</summary>
    public string? Was { get; }

    public bool IsList { get; }

    /// <summary>A boolean: the flag alone means true.</summary>
    public bool IsFlag { get; }

    public Option Option { get; }

    private string Help => $"{Description} [default: {DefaultText}]";

    /// <summary>The flag's values when it was given on the command line, else null.</summary>
    public string[]? FlagValues(ParseResult parse)
    {
        // Look the option up by name in the parsed command, so that any list of settings can read a parse result.
        var option = parse.CommandResult.Command.Options.FirstOrDefault(o => o.Name == Flag) ?? Option;
        var result = parse.GetResult(option);
        if (result is null || result.Implicit)
        {
            return null;
        }

        return IsList ? parse.GetValue((Option<string[]>)option) ?? []
            : IsFlag ? [parse.GetValue((Option<string>)option) ?? "true"]
            : [parse.GetValue((Option<string>)option) ?? ""];
    }

    /// <summary><c>SocketAcquireTimeout</c> → <c>socket-acquire-timeout</c>.</summary>
    public static string Kebab(string name)
    {
        // One word in flags, as in prose: --websockets.
        name = name.Replace("WebSocket", "Websocket", StringComparison.Ordinal);
        var b = new StringBuilder(name.Length + 8);
        for (var i = 0; i < name.Length; i++)
        {
            var c = name[i];
            if (char.IsUpper(c) && i > 0 && (char.IsLower(name[i - 1]) || (i + 1 < name.Length && char.IsLower(name[i + 1]))))
            {
                b.Append('-');
            }

            b.Append(char.ToLowerInvariant(c));
        }

        return b.ToString();
    }

    /// <summary>A value as a person would write it: <c>5s</c>, <c>a,b</c>, <c>none</c>.</summary>
    public static string Format(object? value, string nullText = "none") => value switch
    {
        null => nullText,
        TimeSpan t => Durations.Format(t),
        bool b => b ? "true" : "false",
        string s => s.Length == 0 ? "none" : s,
        IEnumerable<string> list => list.Any() ? string.Join(",", list) : "none",
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => value.ToString() ?? nullText,
    };
}

/// <summary>
/// The settings of one command: each property of its options classes that configuration can set, with the help
/// text the executable shows for it. Built from <see cref="SettingsShape"/>, so a property without a description is
/// an error at start (and in the tests), never a setting without a flag.
/// </summary>
internal sealed class SettingTable
{
    private readonly List<Setting> _settings = [];
    private readonly object[] _defaults;

    /// <param name="section">The configuration section, <c>Router</c> or <c>Connector</c>.</param>
    /// <param name="shape">The settings of the section's options classes.</param>
    /// <param name="defaults">An instance of each of those classes as it is before configuration, for the defaults shown.</param>
    public SettingTable(string section, SettingsShape shape, params object[] defaults)
    {
        Section = section;
        Shape = shape;
        _defaults = defaults;
    }

    public string Section { get; }

    public SettingsShape Shape { get; }

    public IReadOnlyList<Setting> Settings => _settings;

    /// <summary>Describes setting <paramref name="name"/>, whose default is read from the defaults unless <paramref name="defaultText"/> is given.</summary>
    public SettingTable Add(string name, string description, string? defaultText = null, string? was = null, string nullText = "none")
    {
        var p = Shape.Find(name) ?? throw new InvalidOperationException($"{Section} has no setting '{name}'.");
        var defaults = _defaults.First(p.DeclaringType!.IsInstanceOfType);
        _settings.Add(new Setting(Section, p, description, defaultText ?? Setting.Format(p.GetValue(defaults), nullText), was));
        return this;
    }

    /// <summary>Throws when a setting of the shape has no description here (so no flag and no documentation).</summary>
    public SettingTable Complete()
    {
        var missing = Shape.Properties.Select(p => p.Name).Except(_settings.Select(s => s.Name), StringComparer.OrdinalIgnoreCase).ToList();
        return missing.Count == 0 ? this : throw new InvalidOperationException($"{Section} settings without a description: {string.Join(", ", missing)}.");
    }

    public Setting? Find(string name) => _settings.FirstOrDefault(s => string.Equals(s.Name, name, StringComparison.OrdinalIgnoreCase));

    public Setting? FindWas(string name) => _settings.FirstOrDefault(s => string.Equals(s.Was, name, StringComparison.OrdinalIgnoreCase));
}
