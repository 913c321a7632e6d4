using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;
using Putsh.Protocol.Configuration;

namespace Putsh.Connector;

/// <summary>
/// Binds <see cref="ConnectorOptions"/> from configuration with the source-generated binder, after
/// <see cref="SettingsShape"/> has made people's values binder-ready (<c>5s</c>, <c>a,b</c>) and refused unknown keys.
/// </summary>
internal static class ConnectorOptionsBinding
{
    public static readonly SettingsShape Shape = SettingsShape.Of<ConnectorOptions>();

    /// <summary>Binds <paramref name="section"/> onto <paramref name="options"/>; throws <see cref="OptionsValidationException"/> naming every wrong key.</summary>
    public static void Bind(IConfiguration section, ConnectorOptions options, string name)
    {
        var normalized = Shape.Normalize(
            section.GetChildren().Select(c => (c.Key, c.Value, (IReadOnlyList<string>)[.. c.GetChildren().Select(e => e.Value ?? "")])));
        if (normalized.Problems.Count > 0)
        {
            throw new OptionsValidationException(name, typeof(ConnectorOptions), normalized.Describe((section as IConfigurationSection)?.Path ?? ""));
        }

        normalized.Prepare(Shape, options);
        new ConfigurationBuilder().AddInMemoryCollection(normalized.Values).Build().Bind(options);
        normalized.Finish(Shape, options);
    }
}
