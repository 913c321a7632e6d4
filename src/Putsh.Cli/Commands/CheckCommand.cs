using System.CommandLine;
using System.Text;
using System.Text.Json;
using Putsh.Cli.Hosting;
using Putsh.Connector;

namespace Putsh.Cli.Commands;

/// <summary>
/// <c>putsh check --config FILE</c>: reads the file and the <c>PUTSH_</c> environment as the commands would, checks
/// every section they hold (keys, values, and each options class's own rules), and prints the effective settings as
/// JSON with secrets masked. Exit code 0 when the configuration would start, 2 (one line) when it would not.
/// </summary>
internal static class CheckCommand
{
    /// <summary>Settings shown as <c>***</c>: tokens.</summary>
    private static readonly HashSet<string> Secrets = new(StringComparer.OrdinalIgnoreCase) { "AdminToken", "RegistrationTokens", "Token" };

    public static Command Create()
    {
        var command = new Command("check", "Checks a configuration (the --config file and PUTSH_ variables) without starting anything, and prints the effective settings, secrets masked.")
        {
            CommonOptions.Config,
        };
        command.SetAction((parse, _) =>
        {
            parse.InvocationConfiguration.Output.Write(Run(parse));
            return Task.FromResult(0);
        });
        return command;
    }

    /// <summary>The effective configuration as indented JSON; throws <see cref="UsageException"/> for one that would not start.</summary>
    public static string Run(ParseResult parse)
    {
        var configuration = CommonOptions.LoadConfiguration(parse);
        var router = RouterCommand.Settings("http://0.0.0.0:8080", "http://0.0.0.0:8081");
        var connector = ConnectorCommand.Settings();
        var sections = configuration.SectionsGiven();
        if (sections.Count == 0)
        {
            sections = [router.Section, connector.Section];
        }

        _ = CommonOptions.LogLevel(parse, configuration.Common);
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
        {
            json.WriteStartObject();
            json.WriteString("LogLevel", configuration.Common["LogLevel"] ?? "Information");
            json.WriteString("LogFormat", configuration.Common["LogFormat"] ?? "text");
            json.WriteString("InlineIo", configuration.Common["InlineIo"] ?? "true");
            if (sections.Contains(router.Section, StringComparer.OrdinalIgnoreCase))
            {
                var settings = new RouterSettings();
                RouterCommand.Bind(configuration.Section(router), settings);
                Check(settings.Options.Validate);
                settings.Validate();
                Write(json, router, settings, settings.Options, settings.Limits);
            }

            if (sections.Contains(connector.Section, StringComparer.OrdinalIgnoreCase))
            {
                var options = new ConnectorOptions();
                var host = new ConnectorHostSettings();
                ConnectorCommand.Bind(configuration.Section(connector), options, host);
                Check(options.Validate);
                Write(json, connector, options, host);
            }

            json.WriteEndObject();
        }

        return Encoding.UTF8.GetString(buffer.ToArray()) + Environment.NewLine;
    }

    private static void Check(Action validate)
    {
        try
        {
            validate();
        }
        catch (ArgumentException ex)
        {
            throw new UsageException(ex.Message);
        }
    }

    private static void Write(Utf8JsonWriter json, SettingTable table, params object[] targets)
    {
        json.WriteStartObject(table.Section);
        foreach (var s in table.Settings)
        {
            var value = s.Property.GetValue(targets.First(s.Property.DeclaringType!.IsInstanceOfType));
            if (Secrets.Contains(s.Name) && value is not null && !(value is IEnumerable<string> none && !none.Any()))
            {
                json.WriteString(s.Name, "***");
            }
            else if (value is not string and IEnumerable<string> list)
            {
                json.WriteStartArray(s.Name);
                foreach (var item in list)
                {
                    json.WriteStringValue(item);
                }

                json.WriteEndArray();
            }
            else if (value is null)
            {
                json.WriteNull(s.Name);
            }
            else if (value is bool b)
            {
                json.WriteBoolean(s.Name, b);
            }
            else if (value is int or long)
            {
                json.WriteNumber(s.Name, Convert.ToInt64(value, System.Globalization.CultureInfo.InvariantCulture));
            }
            else
            {
                json.WriteString(s.Name, Setting.Format(value));
            }
        }

        json.WriteEndObject();
    }
}
