using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;
using Putsh.Protocol.Configuration;

namespace Putsh.Router;

/// <summary>
/// Binds <see cref="RouterOptions"/> from configuration with the source-generated binder, after <see cref="SettingsShape"/>
/// has made people's values binder-ready (<c>5s</c>, <c>unlimited</c>, <c>a,b</c>) and refused unknown keys.
/// </summary>
internal static class RouterOptionsBinding
{
    public static readonly SettingsShape Shape = SettingsShape.Of<RouterOptions>().Whole(nameof(RouterOptions.RegistrationTokens));

    /// <summary>Binds <paramref name="section"/> onto <paramref name="options"/>; throws <see cref="OptionsValidationException"/> naming every wrong key.</summary>
    public static void Bind(IConfiguration section, RouterOptions options)
    {
        var normalized = Shape.Normalize(
            section.GetChildren().Select(c => (c.Key, c.Value, (IReadOnlyList<string>)[.. c.GetChildren().Select(e => e.Value ?? "")])));
        if (normalized.Problems.Count > 0)
        {
            throw new OptionsValidationException(Options.DefaultName, typeof(RouterOptions), normalized.Describe((section as IConfigurationSection)?.Path ?? ""));
        }

        normalized.Prepare(Shape, options);
        new ConfigurationBuilder().AddInMemoryCollection(normalized.Values).Build().Bind(options);
        normalized.Finish(Shape, options);
    }
}
