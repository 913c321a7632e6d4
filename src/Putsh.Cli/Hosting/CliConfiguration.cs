using System.CommandLine;
using System.Text.Json;
using Microsoft.Extensions.Configuration;
using Putsh.Protocol.Configuration;

namespace Putsh.Cli.Hosting;

/// <summary>
/// The executable's configuration in three layers, lowest first: the <c>--config</c> JSON file, <c>PUTSH_</c>
/// environment variables, the flags. Each setting is taken whole from the highest layer that has it (so a list given
/// by flag replaces the file's list rather than overwriting its first entries), made binder-ready by
/// <see cref="SettingsShape"/>, and bound by Microsoft.Extensions.Configuration's source-generated binder. Unknown
/// keys, unknown <c>PUTSH_</c> variables and malformed values are refused, each named as its layer spells it.
/// </summary>
internal sealed class CliConfiguration
{
    /// <summary>Top-level keys besides the sections: the options every command has.</summary>
    public static readonly string[] CommonKeys = ["LogLevel", "LogFormat", "InlineIo"];

    private readonly List<Layer> _layers;

    private CliConfiguration(List<Layer> layers, IConfiguration common, string? file)
    {
        _layers = layers;
        Common = common;
        File = file;
    }

    /// <summary>The file and the environment merged, for the top-level options (<c>LogLevel</c>, ...); flags are read separately.</summary>
    public IConfiguration Common { get; }

    /// <summary>The full path of the <c>--config</c> file, if one was given.</summary>
    public string? File { get; }

    /// <summary>
    /// Reads the file (if any), the environment and the flags of <paramref name="command"/> (the settings of the
    /// command being run; null for none); throws <see cref="UsageException"/> for a missing or malformed file and
    /// for unknown keys in any section.
    /// </summary>
    public static CliConfiguration Load(ParseResult parse, Option<string> configOption, SettingTable? command, IReadOnlyList<SettingTable> known, IEnumerable<KeyValuePair<string, string?>>? environment = null)
    {
        IReadOnlyList<SettingTable> tables = command is null ? [] : [command];
        var layers = new List<Layer>();
        string? path = null;
        if (parse.GetValue(configOption) is { } file)
        {
            path = Path.GetFullPath(file);
            if (!System.IO.File.Exists(path))
            {
                throw new UsageException($"--config: '{file}' does not exist.");
            }

            try
            {
                var root = new ConfigurationBuilder().AddJsonFile(path, optional: false, reloadOnChange: false).Build();
                layers.Add(new Layer(root, key => $"{key} in {file}"));
            }
            catch (Exception ex) when (ex is FormatException or InvalidDataException or IOException or JsonException)
            {
                throw new UsageException($"--config: '{file}' is not valid JSON: {JsonProblem(ex)}");
            }
        }

        var env = environment is null
            ? new ConfigurationBuilder().AddEnvironmentVariables("PUTSH_").Build()
            : new ConfigurationBuilder().AddInMemoryCollection(environment).Build();
        layers.Add(new Layer(env, key => "PUTSH_" + key.Replace(":", "__", StringComparison.Ordinal)));

        var flags = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
        var flagNames = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var s in tables.SelectMany(t => t.Settings))
        {
            if (s.FlagValues(parse) is not { } values)
            {
                continue;
            }

            flagNames[s.Key] = s.Flag;
            if (s.IsList && values.Length != 1)
            {
                for (var i = 0; i < values.Length; i++)
                {
                    flags[$"{s.Key}:{i}"] = values[i];
                }
            }
            else
            {
                flags[s.Key] = values.Length == 0 ? "" : values[0];
            }
        }

        layers.Add(new Layer(new ConfigurationBuilder().AddInMemoryCollection(flags).Build(), key => flagNames.GetValueOrDefault(key, key)));

        var common = new ConfigurationBuilder();
        foreach (var layer in layers.Take(layers.Count - 1))
        {
            common.AddConfiguration(layer.Root);
        }

        var result = new CliConfiguration(layers, common.Build(), path);
        result.CheckKeys(known);
        return result;
    }

    /// <summary>
    /// The settings of <paramref name="table"/>'s section, each from the highest layer that has it, ready to bind;
    /// throws <see cref="UsageException"/> naming every malformed value.
    /// </summary>
    public Bindable Section(SettingTable table)
    {
        var merged = new SettingsShape.Normalized();
        var problems = new List<string>();
        foreach (var layer in _layers)
        {
            var section = layer.Root.GetSection(table.Section);
            var normalized = table.Shape.Normalize(
                section.GetChildren().Where(c => table.Shape.Find(c.Key) is not null).Select(c => (c.Key, c.Value, (IReadOnlyList<string>)[.. c.GetChildren().Select(e => e.Value ?? "")])));
            problems.AddRange(normalized.Problems.Select(p => $"{layer.Describe(table.Section + ":" + p.Key)}: {p.Problem}"));
            foreach (var name in normalized.Present.Concat(normalized.Nulls))
            {
                // A higher layer replaces the setting whole: its list entries, or its being unset.
                foreach (var key in merged.Values.Keys.Where(k => k.Equals(name, StringComparison.OrdinalIgnoreCase) || k.StartsWith(name + ":", StringComparison.OrdinalIgnoreCase)).ToList())
                {
                    merged.Values.Remove(key);
                }

                merged.Present.RemoveAll(n => n.Equals(name, StringComparison.OrdinalIgnoreCase));
                merged.Nulls.RemoveAll(n => n.Equals(name, StringComparison.OrdinalIgnoreCase));
            }

            foreach (var (key, value) in normalized.Values)
            {
                merged.Values[key] = value;
            }

            merged.Present.AddRange(normalized.Present);
            merged.Nulls.AddRange(normalized.Nulls);
        }

        if (problems.Count > 0)
        {
            throw new UsageException(string.Join("; ", problems) + ".");
        }

        return new Bindable(table.Shape, merged, new ConfigurationBuilder().AddInMemoryCollection(merged.Values).Build());
    }

    /// <summary>The sections (<c>Router</c>, <c>Connector</c>) that the file or the environment has keys in.</summary>
    public List<string> SectionsGiven() =>
        [.. _layers.SelectMany(l => l.Root.GetChildren()).Where(c => c.Value is null && !CommonKeys.Contains(c.Key, StringComparer.OrdinalIgnoreCase)).Select(c => c.Key).Distinct(StringComparer.OrdinalIgnoreCase)];

    /// <summary>
    /// Refuses, in every layer, top-level keys other than the common options and the sections, and keys in a
    /// section that are not its settings (telling the new name of one that was renamed).
    /// </summary>
    private void CheckKeys(IReadOnlyList<SettingTable> tables)
    {
        var problems = new List<string>();
        foreach (var layer in _layers)
        {
            foreach (var top in layer.Root.GetChildren())
            {
                if (tables.FirstOrDefault(t => t.Section.Equals(top.Key, StringComparison.OrdinalIgnoreCase)) is { } table)
                {
                    foreach (var child in top.GetChildren().Where(c => table.Shape.Find(c.Key) is null))
                    {
                        var renamed = table.FindWas(child.Key);
                        problems.Add($"{layer.Describe(table.Section + ":" + child.Key)}: unknown setting" + (renamed is null ? "" : $" (now {renamed.Name})"));
                    }
                }
                else if (!CommonKeys.Contains(top.Key, StringComparer.OrdinalIgnoreCase))
                {
                    problems.Add($"{layer.Describe(top.Key)}: unknown setting (expected {string.Join(", ", CommonKeys.Concat(tables.Select(t => t.Section)))})");
                }
            }
        }

        if (problems.Count > 0)
        {
            throw new UsageException(string.Join("; ", problems) + ".");
        }
    }

    /// <summary>A JSON parse error as <c>line L, column C: reason</c>, both counted from 1.</summary>
    private static string JsonProblem(Exception ex)
    {
        for (var e = ex; e is not null; e = e.InnerException)
        {
            if (e is JsonException { LineNumber: { } line } json)
            {
                var reason = json.Message;
                var cut = reason.IndexOf(" LineNumber:", StringComparison.Ordinal);
                reason = (cut > 0 ? reason[..cut] : reason).Trim().TrimEnd('.');
                return $"line {line + 1}, column {(json.BytePositionInLine ?? 0) + 1}: {reason}.";
            }
        }

        return ex.Message;
    }

    private sealed record Layer(IConfigurationRoot Root, Func<string, string> Describe);

    /// <summary>A section's merged settings: bind them onto each of its options objects with <see cref="Prepare"/> before and <see cref="Finish"/> after.</summary>
    internal sealed class Bindable(SettingsShape shape, SettingsShape.Normalized values, IConfiguration configuration)
    {
        public IConfiguration Configuration { get; } = configuration;

        public void Prepare(object target) => values.Prepare(shape, target);

        public void Finish(object target) => values.Finish(shape, target);
    }
}
