using System.Text.RegularExpressions;
using Maas.Testing;

namespace Maas.Core.Tests.SourceTree;

// Types live in files named after them, so a reader finds one by its name. The exceptions are files that group wire
// shapes or native enums by name (…Types, …Dtos, …Requests, …Enums, …Structs), where one file per record would scatter
// one API's shapes.
public sealed partial class TypeFileNameTests
{
    private static readonly string[] GroupSuffixes = ["Types", "Dtos", "Requests", "Enums", "Structs"];

    // A type declared at the top level of a file-scoped namespace: at the start of its line, after any attributes and
    // modifiers. Nested types are indented and are not matched.
    [GeneratedRegex(
        @"^(?:(?:public|internal|static|sealed|abstract|partial|readonly|file|unsafe|ref)\s+)*" +
        @"(?:class|struct|interface|enum|record(?:\s+struct|\s+class)?|delegate\s+[^(]+?)\s+(\w+)",
        RegexOptions.Multiline)]
    private static partial Regex TopLevelType();

    [Fact]
    public void Every_type_in_src_lives_in_a_file_named_after_it()
    {
        var files = SourceFiles.CSharpUnder("src");
        Assert.True(files.Count > 100, $"found only {files.Count} C# files under {SharedModels.RepoRoot}/src");

        var misplaced = new List<string>();
        foreach (var file in files)
        {
            var name = Path.GetFileNameWithoutExtension(file).Split('.')[0];
            if (GroupSuffixes.Any(suffix => name.EndsWith(suffix, StringComparison.Ordinal)))
            {
                continue;
            }

            foreach (var type in TopLevelTypes(File.ReadAllText(file)).Where(type => type != name))
            {
                misplaced.Add($"{Path.GetRelativePath(SharedModels.RepoRoot, file)}: {type}");
            }
        }

        Assert.True(misplaced.Count == 0, $"{misplaced.Count} types are not in a file named after them:\n" + string.Join("\n", misplaced));
    }

    [Fact]
    public void Top_level_declarations_are_found_and_nested_ones_are_not()
    {
        const string source = """
            namespace Demo;

            [Obsolete]
            public sealed partial class Outer<T> where T : class
            {
                private sealed record Nested(int A);
            }

            internal readonly record struct Point(int X);

            public delegate Task<IReadOnlyList<T>> Source<T>(int after);

            file enum Colour { Red }
            """;
        Assert.Equal(["Outer", "Point", "Source", "Colour"], TopLevelTypes(source));
    }

    private static List<string> TopLevelTypes(string source) =>
        TopLevelType().Matches(source).Select(match => match.Groups[1].Value).ToList();
}
