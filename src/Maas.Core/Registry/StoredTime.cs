namespace Maas.Core.Registry;

/// <summary>Times as the stores keep them: whole milliseconds since the Unix epoch.</summary>
public static class StoredTime
{
    /// <summary>
    /// <paramref name="time"/> cut to the millisecond, so what a create answers equals what reading the row back gives
    /// (the clock's ticks gave 7 decimals, the stored row 3).
    /// </summary>
    public static DateTimeOffset Of(DateTimeOffset time) => DateTimeOffset.FromUnixTimeMilliseconds(time.ToUnixTimeMilliseconds());
}
