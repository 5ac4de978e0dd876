using System.Text.RegularExpressions;
using Maas.Testing;

namespace Maas.Core.Tests.SourceTree;

// .editorconfig's max_line_length is a promise the tree keeps, not a hint: every C# file in src, tests and bench is
// within it. dotnet format does not check line length, so this test does.
public sealed partial class LineLengthTests
{
    [GeneratedRegex(@"^\s*max_line_length\s*=\s*(\d+)\s*$", RegexOptions.Multiline)]
    private static partial Regex MaxLineLength();

    [Fact]
    public void Every_csharp_line_is_within_the_editorconfig_max_line_length()
    {
        var limit = CSharpLineLimit(File.ReadAllText(Path.Combine(SharedModels.RepoRoot, ".editorconfig")));
        Assert.InRange(limit, 80, 240);

        var files = SourceFiles.CSharpUnder("src", "tests", "bench");
        Assert.True(files.Count > 100, $"found only {files.Count} C# files under {SharedModels.RepoRoot}");

        var over = new List<string>();
        foreach (var file in files)
        {
            var lines = File.ReadAllLines(file);
            for (var i = 0; i < lines.Length; i++)
            {
                if (lines[i].Length > limit)
                {
                    over.Add($"{Path.GetRelativePath(SharedModels.RepoRoot, file)}:{i + 1} ({lines[i].Length} characters)");
                }
            }
        }

        Assert.True(over.Count == 0, $"{over.Count} lines are longer than max_line_length = {limit}:\n" + string.Join("\n", over.Take(30)));
    }

    [Fact]
    public void The_limit_is_read_from_the_csharp_section()
    {
        const string config = "[*]\nmax_line_length = 300\n\n[*.cs]\nindent_size = 4\nmax_line_length = 150\n\n[*.md]\nmax_line_length = 90\n";
        Assert.Equal(150, CSharpLineLimit(config));
    }

    // The max_line_length of the [*.cs] section.
    private static int CSharpLineLimit(string editorConfig)
    {
        var start = editorConfig.IndexOf("[*.cs]", StringComparison.Ordinal);
        Assert.True(start >= 0, ".editorconfig has no [*.cs] section");
        var next = editorConfig.IndexOf("\n[", start + 1, StringComparison.Ordinal);
        var section = next < 0 ? editorConfig[start..] : editorConfig[start..next];
        var match = MaxLineLength().Match(section);
        Assert.True(match.Success, ".editorconfig's [*.cs] section sets no max_line_length");
        return int.Parse(match.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
    }
}
