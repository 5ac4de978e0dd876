namespace Maas.Core.TensorServing;

/// <summary>Settings of the <see cref="ModelManager"/>.</summary>
public sealed record ModelManagerOptions
{
    /// <summary>How long a resolved name, alias or version is reused before asking the catalog again.</summary>
    public TimeSpan ResolveCacheTime { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// The most resolutions kept at once (each a name with a version or alias as a caller spelled it); past it the
    /// cache starts over, so callers probing many spellings cannot grow it.
    /// </summary>
    public int ResolveCacheEntries { get; init; } = 10_000;

    /// <summary>How long a failed load is reported before a request may try loading again (for a manager with its own host).</summary>
    public TimeSpan RetryFailedLoadAfter { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Histograms and spans of the schedulers (null: none).</summary>
    public Observability.ServingTelemetry? Telemetry { get; init; }
}
