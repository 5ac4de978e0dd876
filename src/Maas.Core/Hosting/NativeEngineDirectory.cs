using System.Runtime.InteropServices;

namespace Maas.Core.Hosting;

/// <summary>Finds the folder that holds a native engine's libraries: the user's own or the build's cache.</summary>
/// <remarks>Mirrors build/NativeEngines.targets: the build fetches into the same folder this computes.</remarks>
public static class NativeEngineDirectory
{
    /// <summary>A folder with the user's own engine builds (CUDA, ROCm, newer releases); replaces the fetch.</summary>
    public const string OverrideVariable = "MAAS_NATIVE_DIR";

    /// <summary>Moves the cache root that the build fetches into.</summary>
    public const string CacheVariable = "MAAS_NATIVE_CACHE";

    /// <summary>The folder to load <paramref name="engine"/> from.</summary>
    public static string Resolve(string engine, string version)
    {
        var own = Environment.GetEnvironmentVariable(OverrideVariable);
        if (!string.IsNullOrWhiteSpace(own))
        {
            return own;
        }

        return Path.Combine(CacheRoot(), $"{engine}-{version}", RuntimeInformation.RuntimeIdentifier);
    }

    /// <summary>The root of the per-user native cache.</summary>
    public static string CacheRoot()
    {
        var explicitRoot = Environment.GetEnvironmentVariable(CacheVariable);
        if (!string.IsNullOrWhiteSpace(explicitRoot))
        {
            return explicitRoot;
        }

        if (OperatingSystem.IsWindows())
        {
            return Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.LocalApplicationData), "maas", "native");
        }

        var xdg = Environment.GetEnvironmentVariable("XDG_CACHE_HOME");
        var home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
        return Path.Combine(string.IsNullOrWhiteSpace(xdg) ? Path.Combine(home, ".cache") : xdg, "maas", "native");
    }

    /// <summary>A message for when a library is not where it should be.</summary>
    public static string MissingMessage(string engine, string folder, string file) =>
        $"The {engine} native library '{file}' was not found in '{folder}'. Build the solution once (it fetches the pinned engine), " +
        $"or set {OverrideVariable} to a folder that holds your own build.";
}
