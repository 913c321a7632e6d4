using System.Text.RegularExpressions;

namespace Putsh.Protocol.Tests;

/// <summary>
/// Code comments cite the protocol document by section (<c>§5.6</c>, <c>§2.3</c>, <c>§7.6.1</c>): every number cited in
/// a <c>.cs</c> file under <c>src/</c> must be a heading of <c>docs/protocol.md</c>, so that a reader with only this
/// repository can look each one up.
/// </summary>
/// <remarks>
/// Which citations are to other documents: a citation is a run of one or more section numbers joined only by list
/// separators (a comma, <c>and</c>, or a dash), such as <c>§4.1, §11.3.1, §11.3.2</c> or <c>§5.1–§5.5</c>. The whole run
/// cites another document, and is not checked, when the text just before its first <c>§</c> names that document:
/// <c>RFC</c> and a number (<c>RFC 9110 §7.6.1</c>, <c>RFC 6455's §5.5</c>), a Markdown file other than
/// <c>docs/protocol.md</c> (<c>docs/websocket-extension.md §3</c>), or <c>W3C Trace Context</c>. Anything else cites
/// docs/protocol.md: <c>(§5.6)</c>, <c>docs/protocol.md §12.3</c>, and <c>§2.3</c> in <c>(RFC 9110 §7.6.3; §2.3 point
/// 2)</c>, as a semicolon ends a run. A comment that cites an RFC section must therefore name the RFC right before it.
/// </remarks>
public sealed partial class ProtocolDocumentTests
{
    [Fact]
    public void Every_section_cited_under_src_is_a_heading_of_docs_protocol_md()
    {
        var root = RepositoryRoot();
        var headings = Headings(File.ReadAllLines(Path.Combine(root, "docs", "protocol.md"))).ToHashSet(StringComparer.Ordinal);
        var cited = 0;
        var missing = new List<string>();
        foreach (var file in SourceFiles(Path.Combine(root, "src")))
        {
            var lines = File.ReadAllLines(file);
            for (var i = 0; i < lines.Length; i++)
            {
                foreach (var section in CitedSections(lines[i]))
                {
                    cited++;
                    if (!headings.Contains(section))
                    {
                        missing.Add($"§{section} at {Path.GetRelativePath(root, file)}:{i + 1}");
                    }
                }
            }
        }

        Assert.True(cited > 0, "no section citations found under src/: is the repository root right?");
        Assert.True(missing.Count == 0, $"{missing.Count} section citation(s) under src/ have no heading in docs/protocol.md:\n" + string.Join('\n', missing));
    }

    [Fact]
    public void Each_section_number_is_a_heading_of_docs_protocol_md_only_once()
    {
        var headings = Headings(File.ReadAllLines(Path.Combine(RepositoryRoot(), "docs", "protocol.md"))).ToList();

        var duplicates = headings.GroupBy(h => h, StringComparer.Ordinal).Where(g => g.Count() > 1).Select(g => "§" + g.Key).ToList();

        Assert.Contains("5.6", headings);
        Assert.True(duplicates.Count == 0, "section numbers used by more than one heading: " + string.Join(", ", duplicates));
    }

    [Theory]
    [InlineData("// Acknowledged on receipt (§5.6).", "5.6")]
    [InlineData("/// (docs/protocol.md §12.3): a window", "12.3")]
    [InlineData("(RFC 9110 §7.6.1; docs/protocol.md §2.3 and §2.5)", "2.3 2.5")]
    [InlineData("(RFC 9110 §7.6.3; §2.3 point 2)", "2.3")]
    [InlineData("The cranker_3.0 framing (§5.1–§5.5): a prefix", "5.1 5.5")]
    [InlineData("other implementations send all of these (§2.2, §10).", "2.2 10")]
    [InlineData("the server side (RFC 6455 §5.1).", "")]
    [InlineData("(RFC 6455 §4.1, §11.3.1, §11.3.2)", "")]
    [InlineData("(RFC 9110 §5.3, RFC 6265 §3)", "")]
    [InlineData("at most 123 bytes (RFC 6455's §5.5)", "")]
    [InlineData("with no extensions (docs/websocket-extension.md §3).", "")]
    [InlineData("<flags> (W3C Trace Context §3.2)", "")]
    [InlineData("a plain sentence with no citation", "")]
    public void Only_citations_of_docs_protocol_md_are_checked(string line, string expected)
    {
        Assert.Equal(expected, string.Join(' ', CitedSections(line)));
    }

    /// <summary>The section numbers <paramref name="line"/> cites in docs/protocol.md, by the rule in the remarks above.</summary>
    internal static IEnumerable<string> CitedSections(string line)
    {
        var matches = Section().Matches(line);
        for (var i = 0; i < matches.Count; i++)
        {
            // Walk back to the start of the run this citation belongs to.
            var first = i;
            while (first > 0 && ListSeparator().IsMatch(line[(matches[first - 1].Index + matches[first - 1].Length)..matches[first].Index]))
            {
                first--;
            }

            var document = OtherDocument().Match(line[..matches[first].Index]);
            if (document.Success && !document.Value.TrimEnd().EndsWith("docs/protocol.md", StringComparison.Ordinal))
            {
                continue;
            }

            yield return matches[i].Groups["number"].Value;
        }
    }

    /// <summary>The numbers of the Markdown headings (<c>## 5. …</c>, <c>### 5.6 …</c>) outside fenced code blocks.</summary>
    private static IEnumerable<string> Headings(IEnumerable<string> lines)
    {
        var fenced = false;
        foreach (var line in lines)
        {
            if (line.StartsWith("```", StringComparison.Ordinal))
            {
                fenced = !fenced;
                continue;
            }

            if (!fenced && Heading().Match(line) is { Success: true } heading)
            {
                yield return heading.Groups["number"].Value;
            }
        }
    }

    private static IEnumerable<string> SourceFiles(string src) =>
        Directory.EnumerateFiles(src, "*.cs", SearchOption.AllDirectories)
            .Where(f => !Path.GetRelativePath(src, f).Split(Path.DirectorySeparatorChar).Any(part => part is "bin" or "obj"))
            .Order(StringComparer.Ordinal);

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

    [GeneratedRegex(@"§ ?(?<number>\d+(?:\.\d+)*)")]
    private static partial Regex Section();

    /// <summary>What may stand between two citations of one run: a comma, <c>and</c>, or a dash.</summary>
    [GeneratedRegex(@"^\s*(?:,|,?\s*and|–|-)\s*$")]
    private static partial Regex ListSeparator();

    /// <summary>A document named at the very end of the text before a run: an RFC, a Markdown file, W3C Trace Context.</summary>
    [GeneratedRegex(@"(?:\bRFC ?\d+(?:'s)?|\bW3C Trace Context|(?<![\w./-])[\w./-]+\.md)\s*$")]
    private static partial Regex OtherDocument();

    [GeneratedRegex(@"^#{1,6}\s+(?<number>\d+(?:\.\d+)*)\.?(?:\s|$)")]
    private static partial Regex Heading();
}
