namespace Maas.Core.Registry;

/// <summary>Where a version is in its life: reserved while its artifact arrives, then ready and immutable.</summary>
public enum VersionStatus
{
    /// <summary>The number is taken and the artifact is arriving; invisible to readers.</summary>
    Uploading,

    /// <summary>Validated, stored and immutable.</summary>
    Ready,
}
