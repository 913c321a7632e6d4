using System.CommandLine;
using System.Globalization;
using Microsoft.Extensions.Configuration;

namespace Putsh.Cli.Hosting;

/// <summary>A wrong option or value: the CLI prints its message as one line and exits with code 2.</summary>
internal sealed class UsageException(string message) : Exception(message);

internal enum SettingKind
{
    Text,
    List,

    /// <summary>Like <see cref="List"/>, but a single configuration value is one entry, never split at commas.</summary>
    Entries,
    Flag,
}

/// <summary>
/// One option of a command, known by its flag and by its configuration key, so that a JSON file
/// (<c>{"Router": {"MaxWait": "5s"}}</c>), an environment variable (<c>PUTSH_Router__MaxWait=5s</c>) and a flag
/// (<c>--max-wait 5s</c>) all set the same thing, flags winning over variables winning over the file.
/// </summary>
internal sealed class Setting<T>
{
    private readonly Action<T, string[]> _apply;

    public Setting(string flag, string key, SettingKind kind, string defaultText, string description, Action<T, string[]> apply)
    {
        Flag = flag;
        Key = key;
        Kind = kind;
        DefaultText = defaultText;
        Description = description;
        _apply = apply;
        Option = kind switch
        {
            SettingKind.List or SettingKind.Entries => new Option<string[]>(flag) { Description = Help, AllowMultipleArgumentsPerToken = false, Arity = ArgumentArity.OneOrMore },
            SettingKind.Flag => new Option<string>(flag) { Description = Help, Arity = ArgumentArity.ZeroOrOne },
            _ => new Option<string>(flag) { Description = Help },
        };
    }

    public string Flag { get; }

    public string Key { get; }

    public SettingKind Kind { get; }

    public string DefaultText { get; }

    public string Description { get; }

    public Option Option { get; }

    private string Help => $"{Description} [default: {DefaultText}] (config {Key})";

    /// <summary>Applies the value from the flag if given, else from configuration; leaves the default otherwise.</summary>
    public void Apply(T target, ParseResult parse, IConfiguration configuration)
    {
        string[]? values = null;

        // Look the option up by name in the parsed command, so that any list of settings can read a parse result.
        var option = parse.CommandResult.Command.Options.FirstOrDefault(o => o.Name == Flag) ?? Option;
        var result = parse.GetResult(option);
        if (result is not null && !result.Implicit)
        {
            values = Kind switch
            {
                SettingKind.List or SettingKind.Entries => parse.GetValue((Option<string[]>)option) ?? [],
                SettingKind.Flag => [parse.GetValue((Option<string>)option) ?? "true"],
                _ => [parse.GetValue((Option<string>)option) ?? ""],
            };
        }
        else
        {
            var section = configuration.GetSection(Key);
            if (section.Value is { } scalar)
            {
                values = Kind == SettingKind.List ? scalar.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries) : [scalar];
            }
            else if (Kind is SettingKind.List or SettingKind.Entries && section.GetChildren().Any())
            {
                values = section.GetChildren().Select(c => c.Value ?? "").ToArray();
            }
        }

        if (values is not null)
        {
            _apply(target, values);
        }
    }

    public TimeSpan Duration(string value) =>
        Durations.TryParse(value, out var d) ? d : throw new UsageException($"{Flag}: '{value}' is not a duration (for example 250ms, 5s, 2m, 1h).");

    public int Int(string value, int min, int max) =>
        int.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) && n >= min && n <= max
            ? n
            : throw new UsageException($"{Flag}: '{value}' is not a whole number from {min} to {max}.");

    public long Long(string value, long min) =>
        long.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) && n >= min
            ? n
            : throw new UsageException($"{Flag}: '{value}' is not a whole number of at least {min}.");

    public bool Bool(string value) => value.ToLowerInvariant() switch
    {
        "true" or "yes" or "on" or "1" => true,
        "false" or "no" or "off" or "0" => false,
        _ => throw new UsageException($"{Flag}: '{value}' is not true or false."),
    };
}
