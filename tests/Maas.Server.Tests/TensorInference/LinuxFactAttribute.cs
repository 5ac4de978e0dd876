namespace Maas.Server.Tests.TensorInference;

/// <summary>A fact that reads Linux's /proc; skipped, saying why, elsewhere.</summary>
public sealed class LinuxFactAttribute : FactAttribute
{
    /// <summary>Skipped on other systems.</summary>
    public LinuxFactAttribute()
    {
        if (!OperatingSystem.IsLinux())
        {
            Skip = "reads thread names from /proc, which only Linux has";
        }
    }
}
