using System.Text;
using Putsh.Cli.Commands;

namespace Putsh.Cli.Hosting;

/// <summary>
/// docs/configuration.md, written from the settings themselves (<see cref="SettingTable"/>): a test fails when the file
/// in the repository differs from what this renders, and rewrites it when run with <c>UPDATE_DOCS=1</c>.
/// </summary>
internal static class ConfigurationReference
{
    public static string Render()
    {
        var b = new StringBuilder();
        b.Append("""
            # Configuration

            <!-- Generated from the executable's settings (src/Putsh.Cli/Hosting/ConfigurationReference.cs); do not edit.
                 After changing a setting: UPDATE_DOCS=1 dotnet test test/Putsh.Cli.Tests --filter ConfigurationReference -->

            Every setting has one name: the property of the options class it sets. The same name is the key in a JSON
            file given with `--config` (under `Router` or `Connector`), the environment variable
            `PUTSH_<Section>__<Name>`, and, in kebab case, the flag. Flags win over variables, which win over the file,
            which wins over the defaults; a list is taken whole from the one place that gives it.

            ```json
            { "LogLevel": "Information", "Router": { "Listen": ["http://0.0.0.0:8080"], "SocketAcquireTimeout": "2s" } }
            ```
            ```sh
            PUTSH_Connector__Routers=ws://10.0.0.1:8081,ws://10.0.0.2:8081 putsh connector --route hello --target http://127.0.0.1:3000
            ```

            - **Durations** are written `250ms`, `5s`, `2m`, `1h` or `hh:mm:ss`. **Booleans** are `true`/`false` (also
              `yes`/`no`, `on`/`off`, `1`/`0`); a boolean flag alone means true. **Lists** repeat the flag, are JSON
              arrays, or are comma-separated in one value; `none` is the empty list. Settings whose default is `none`
              or `unlimited` take that word to be unset again.
            - An **unknown key** in the file, an unknown `PUTSH_` variable, or a malformed value stops the process with
              exit code 2 and one line naming it as you wrote it (`PUTSH_Router__IdleTimout: unknown setting`). A JSON
              syntax error is reported with its line and column. A key renamed when the names were unified is named
              with its new name.
            - `putsh check --config FILE` checks a file (and the environment) without starting anything and prints the
              effective settings, secrets masked.
            - **Reloading.** On SIGHUP, and when the `--config` file changes, a running process reads its configuration
              again and applies what can change live: `LogLevel`, the router's `RegistrationTokens` (the
              `RegistrationTokenFile` is watched on its own), and the router's `TlsCert`/`TlsKey` (new connections get the
              new certificate). Anything else that changed is logged as needing a restart; a configuration that no
              longer checks is logged and ignored.
            - The libraries bind the same names: `services.AddPutshRouter(configuration.GetSection("Router"))` reads the
              `RouterOptions` keys below and `AddPutshConnector(section)` the `ConnectorOptions` ones, with the same
              durations, lists and unknown-key check (an `OptionsValidationException` at start). The settings marked
              *executable* belong to `putsh` itself (listeners, admin endpoint, process limits).

            ## Every command

            | flag | key | variable | default | meaning |
            |---|---|---|---|---|
            | `--config` | | | none | the JSON file of settings |
            | `--log-level` | `LogLevel` | `PUTSH_LogLevel` | `Information` | Trace, Debug, Information, Warning, Error or None; reloadable |
            | `--log-format` | `LogFormat` | `PUTSH_LogFormat` | `text` | `text` (one line per entry) or `json` (one object per line) |
            | `--inline-io` | `InlineIo` | `PUTSH_InlineIo` | `true` | run socket completions on the I/O threads instead of the thread pool |

            """);
        Section(b, "putsh router", RouterCommand.Settings("http://0.0.0.0:8080", "http://0.0.0.0:8081"), typeof(Putsh.Router.RouterOptions));
        Section(b, "putsh connector", ConnectorCommand.Settings(), typeof(Putsh.Connector.ConnectorOptions));
        return b.ToString().ReplaceLineEndings("\n");
    }

    private static void Section(StringBuilder b, string command, SettingTable table, Type library)
    {
        b.Append($"\n## `{command}` (section `{table.Section}`)\n\n");
        b.Append($"Library settings are properties of `{library.Name}`; the others are the executable's.\n\n");
        b.Append("| flag | key | variable | default | meaning |\n|---|---|---|---|---|\n");
        foreach (var s in table.Settings)
        {
            var owner = s.Property.DeclaringType == library ? "" : " *(executable)*";
            b.Append($"| `{s.Flag}` | `{s.Name}` | `{s.EnvironmentVariable}` | {Code(s.DefaultText)} | {Escape(s.Description)}{owner} |\n");
        }
    }

    private static string Code(string text) => text is "none" or "unlimited" or "required" or "any" || text.Contains(' ', StringComparison.Ordinal) ? text : $"`{text}`";

    private static string Escape(string text) => text.Replace("|", "\\|", StringComparison.Ordinal);
}
