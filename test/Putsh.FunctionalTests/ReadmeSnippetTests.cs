using System.Text.RegularExpressions;

namespace Putsh.FunctionalTests;

/// <summary>
/// Every C# snippet in the README is a region (<c>// region: name</c> ... <c>// endregion</c>) of a sample under
/// samples/, which the solution builds: a snippet that drifts from its sample, or has none, fails here.
/// </summary>
public sealed partial class ReadmeSnippetTests
{
    [Fact]
    public void Every_csharp_snippet_in_the_readme_is_a_region_of_a_compiled_sample()
    {
        var root = RepositoryRoot();
        var regions = Directory.EnumerateFiles(Path.Combine(root, "samples"), "*.cs", SearchOption.AllDirectories)
            .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}", StringComparison.Ordinal)
                && !f.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}", StringComparison.Ordinal))
            .SelectMany(f => Region().Matches(File.ReadAllText(f)).Select(m => (File: Path.GetRelativePath(root, f), Text: Normalize(m.Groups[1].Value))))
            .ToList();
        var snippets = Snippet().Matches(File.ReadAllText(Path.Combine(root, "README.md"))).Select(m => Normalize(m.Groups[1].Value)).ToList();

        Assert.True(snippets.Count >= 6, $"expected the README's snippets, found {snippets.Count}");
        foreach (var snippet in snippets)
        {
            Assert.True(regions.Any(r => r.Text == snippet), "this README snippet is no sample's region:\n" + snippet);
        }
    }

    /// <summary>Indentation removed (as much as every line shares), line ends unified, blank edges trimmed.</summary>
    private static string Normalize(string text)
    {
        var lines = text.Replace("\r\n", "\n", StringComparison.Ordinal).Trim('\n').Split('\n');
        var indent = lines.Where(l => l.Trim().Length > 0).Select(l => l.Length - l.TrimStart().Length).DefaultIfEmpty(0).Min();
        return string.Join('\n', lines.Select(l => l.Length >= indent ? l[indent..].TrimEnd() : l.Trim()));
    }

    private static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Putsh.slnx")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException("Putsh.slnx not found above " + AppContext.BaseDirectory);
    }

    [GeneratedRegex(@"^```csharp\n(.*?)^```", RegexOptions.Multiline | RegexOptions.Singleline)]
    private static partial Regex Snippet();

    [GeneratedRegex(@"^[ \t]*// region: \S+\n(.*?)^[ \t]*// endregion", RegexOptions.Multiline | RegexOptions.Singleline)]
    private static partial Regex Region();
}
