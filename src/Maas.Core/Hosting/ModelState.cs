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

/// <summary>Spellings of <see cref="ModelState"/> on the wire.</summary>
public static class ModelStates
{
    /// <summary>The state as the Open Inference Protocol's repository extension spells it (READY, LOADING, ...).</summary>
    public static string ToProtocolName(this ModelState state) => state switch
    {
        ModelState.Ready => "READY",
        ModelState.Loading => "LOADING",
        ModelState.Unloading => "UNLOADING",
        _ => "UNAVAILABLE",
    };

    /// <summary>The state in lower case, as /api/v1 and metrics labels spell it.</summary>
    public static string ToLabel(this ModelState state) => state switch
    {
        ModelState.Ready => "ready",
        ModelState.Loading => "loading",
        ModelState.Unloading => "unloading",
        _ => "unavailable",
    };
}
