namespace Maas.Core.Hosting;

/// <summary>Where a model version is in its lifecycle (the one state type of every engine).</summary>
public enum ModelState
{
    /// <summary>Not loaded: never, after an unload, or after a failed load (the reason says which).</summary>
    Unavailable,

    /// <summary>Loading; requests wait for it.</summary>
    Loading,

    /// <summary>Loaded and serving.</summary>
    Ready,

    /// <summary>Unloading: its in-flight requests finish, new ones do not start on it.</summary>
    Unloading,
}
