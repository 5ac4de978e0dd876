using Xunit;

namespace Maas.Testing;

/// <summary>A fact that needs an installed program; skipped with the reason when it is absent.</summary>
public sealed class ToolFactAttribute : FactAttribute
{
    /// <summary>Marks a test that needs <paramref name="path"/>, installed by <paramref name="installedBy"/>.</summary>
    public ToolFactAttribute(string path, string installedBy)
    {
        if (!File.Exists(path))
        {
            Skip = $"needs {path} ({installedBy}; .ci/run installs it)";
        }
    }
}
