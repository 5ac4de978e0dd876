namespace Maas.Core.Registry;

/// <summary>What changed in the registry, for caches such as serving's loaded models.</summary>
public enum RegistryChangeKind
{
    /// <summary>A model was created or its fields or serving configuration changed, or a version's metadata (the change names the version).</summary>
    ModelChanged,

    /// <summary>A model and all its versions were deleted.</summary>
    ModelDeleted,

    /// <summary>A version became ready.</summary>
    VersionReady,

    /// <summary>A version was deleted.</summary>
    VersionDeleted,

    /// <summary>An alias was set, moved or deleted.</summary>
    AliasChanged,
}
