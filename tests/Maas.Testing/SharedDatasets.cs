using Xunit;

namespace Maas.Testing;

/// <summary>Locates the real datasets in ../shared/datasets (present in CI, maybe absent in a user's clone).</summary>
public static class SharedDatasets
{
    /// <summary>The shared datasets folder, or null when it is not there.</summary>
    public static string? Folder { get; } = Directory.Exists(Path.Combine(SharedModels.RepoRoot, "..", "shared", "datasets"))
        ? Path.GetFullPath(Path.Combine(SharedModels.RepoRoot, "..", "shared", "datasets"))
        : null;

    /// <summary>The full path of a shared dataset; throws when the folder is absent.</summary>
    public static string PathOf(string file) =>
        Path.Combine(Folder ?? throw new InvalidOperationException("../shared/datasets is not present"), file);

    /// <summary>True when the named file exists in the shared folder.</summary>
    public static bool Has(string file) => Folder is not null && File.Exists(Path.Combine(Folder, file));
}

/// <summary>A fact that needs a file from ../shared/datasets; skipped with the reason when it is absent.</summary>
public sealed class SharedDatasetFactAttribute : FactAttribute
{
    /// <summary>Marks a test that needs <paramref name="file"/> from ../shared/datasets.</summary>
    public SharedDatasetFactAttribute(string file)
    {
        if (!SharedDatasets.Has(file))
        {
            Skip = $"needs ../shared/datasets/{file}, which is not present in this clone (CI always has it)";
        }
    }
}
