namespace Maas.Core.Hosting;

/// <summary>Settings of the <see cref="ModelHost"/>.</summary>
public sealed record ModelHostOptions
{
    /// <summary>How often idle models are looked for (their keep-alive is checked then); infinite: only by <see cref="ModelHost.UnloadIdleAsync"/>.</summary>
    public TimeSpan IdleSweepInterval { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>How long a failed load is reported before a request may try loading again.</summary>
    public TimeSpan RetryFailedLoadAfter { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>How long a request waits for its model to load before it is refused (the load goes on).</summary>
    public TimeSpan LoadWaitLimit { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>
    /// How long a load that does not fit waits for a busy model to finish so it can be evicted, before it is refused
    /// (zero: refused at once).
    /// </summary>
    public TimeSpan RoomWaitLimit { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Bytes all loaded models may take together (0: no budget); a load that does not fit evicts idle models.</summary>
    public long MemoryBudgetBytes { get; init; }

    /// <summary>
    /// Make room for a version's measured load peak (not only what it keeps) before it loads again: the resident size
    /// stays near the budget during loads, at the cost of fewer models loaded at once.
    /// </summary>
    public bool ReserveLoadPeak { get; init; } = true;

    /// <summary>
    /// How long a reading of the model files' resident pages (one pass over /proc/self/smaps, which walks the page
    /// tables of every mapping, KV caches included) is reused by <see cref="ModelHost.Models"/>; zero: read on every call.
    /// </summary>
    public TimeSpan MappedMemoryRefreshInterval { get; init; } = TimeSpan.FromSeconds(30);
}
