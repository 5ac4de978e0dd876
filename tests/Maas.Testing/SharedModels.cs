using Xunit;

namespace Maas.Testing;

/// <summary>Locates the real models in ../shared/models (present in CI, maybe absent in a user's clone).</summary>
public static class SharedModels
{
    /// <summary>Overrides where the shared models folder is.</summary>
    public const string FolderVariable = "MAAS_SHARED_MODELS";

    /// <summary>The repository root (the folder with Maas.slnx).</summary>
    public static string RepoRoot { get; } = FindRepoRoot();

    /// <summary>The shared models folder, or null when it is not there.</summary>
    public static string? Folder { get; } = FindFolder();

    /// <summary>The full path of a shared model file; throws when the folder is absent.</summary>
    public static string PathOf(string file) =>
        Path.Combine(Folder ?? throw new InvalidOperationException("../shared/models is not present"), file);

    /// <summary>True when the named file exists in the shared folder.</summary>
    public static bool Has(string file) => Folder is not null && File.Exists(Path.Combine(Folder, file));

    private static string? FindFolder()
    {
        var fromEnv = Environment.GetEnvironmentVariable(FolderVariable);
        if (!string.IsNullOrWhiteSpace(fromEnv))
        {
            return Directory.Exists(fromEnv) ? fromEnv : null;
        }

        var candidate = Path.GetFullPath(Path.Combine(RepoRoot, "..", "shared", "models"));
        return Directory.Exists(candidate) ? candidate : null;
    }

    private static string FindRepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Maas.slnx")))
            {
                return dir.FullName;
            }
        }

        // Built elsewhere (dotnet build --artifacts-path): the build wrote down where the sources were.
        var fromBuild = typeof(SharedModels).Assembly.GetCustomAttributes(typeof(System.Reflection.AssemblyMetadataAttribute), false)
            .OfType<System.Reflection.AssemblyMetadataAttribute>()
            .FirstOrDefault(a => a.Key == "MaasRepoRoot")?.Value;
        if (fromBuild is not null && File.Exists(Path.Combine(fromBuild, "Maas.slnx")))
        {
            return Path.GetFullPath(fromBuild);
        }

        throw new InvalidOperationException("Maas.slnx not found above " + AppContext.BaseDirectory);
    }
}

/// <summary>A fact that needs a file from ../shared/models; skipped with the reason when it is absent.</summary>
public sealed class SharedModelFactAttribute : FactAttribute
{
    /// <summary>Marks a test that needs <paramref name="file"/> from ../shared/models.</summary>
    public SharedModelFactAttribute(string file)
    {
        if (!SharedModels.Has(file))
        {
            Skip = $"needs ../shared/models/{file}, which is not present in this clone (CI always has it)";
        }
    }
}

/// <summary>A theory that needs a file from ../shared/models; skipped with the reason when it is absent.</summary>
public sealed class SharedModelTheoryAttribute : TheoryAttribute
{
    /// <summary>Marks a theory that needs <paramref name="file"/> from ../shared/models.</summary>
    public SharedModelTheoryAttribute(string file)
    {
        if (!SharedModels.Has(file))
        {
            Skip = $"needs ../shared/models/{file}, which is not present in this clone (CI always has it)";
        }
    }
}
