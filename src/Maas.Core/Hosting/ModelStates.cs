namespace Maas.Core.Hosting;

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
