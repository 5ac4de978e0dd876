using System.ComponentModel.DataAnnotations;

namespace Maas.Server.Hosting;

/// <summary>Server-wide settings, bound from the "Maas" section and MAAS_ environment variables.</summary>
public sealed class MaasOptions
{
    /// <summary>The configuration section these options bind from.</summary>
    public const string Section = "Maas";

    /// <summary>Where all state lives (database, artifacts, keys). MAAS_DATA_DIR sets it.</summary>
    [Required]
    public string DataDir { get; set; } = DefaultDataDir();

    /// <summary>The per-user data folder used when nothing else is configured.</summary>
    public static string DefaultDataDir()
    {
        var baseDir = OperatingSystem.IsWindows()
            ? Environment.GetFolderPath(Environment.SpecialFolder.LocalApplicationData)
            : Environment.GetEnvironmentVariable("XDG_DATA_HOME") is { Length: > 0 } xdg
                ? xdg
                : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".local", "share");
        return Path.Combine(baseDir, "maas");
    }
}
