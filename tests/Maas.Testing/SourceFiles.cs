namespace Maas.Testing;

/// <summary>The repository's own C# files, for tests that check a convention across the tree.</summary>
public static class SourceFiles
{
    /// <summary>Every .cs file under the given folders of the repository root, build output left out.</summary>
    public static IReadOnlyList<string> CSharpUnder(params string[] folders) =>
        folders
            .SelectMany(folder => Directory.EnumerateFiles(Path.Combine(SharedModels.RepoRoot, folder), "*.cs", SearchOption.AllDirectories))
            .Where(path => !IsBuildOutput(path))
            .ToList();

    private static bool IsBuildOutput(string path)
    {
        var parts = path.Split(Path.DirectorySeparatorChar);
        return parts.Contains("bin") || parts.Contains("obj") || parts.Contains("node_modules");
    }
}
