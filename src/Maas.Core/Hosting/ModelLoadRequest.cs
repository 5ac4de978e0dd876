using Maas.Core.Formats;

namespace Maas.Core.Hosting;

/// <summary>What the host needs to load, keep and reload one model version.</summary>
public sealed record ModelLoadRequest
{
    /// <summary>The version to load.</summary>
    public required ModelKey Key { get; init; }

    /// <summary>Its file format, which picks the engine.</summary>
    public required ModelFormat Format { get; init; }

    /// <summary>The engine's own settings (a scheduler configuration, an LLM spec); a change reloads the model.</summary>
    public object? Settings { get; init; }

    /// <summary>Unload after this long without requests (zero: stay loaded).</summary>
    public TimeSpan KeepAlive { get; init; }

    /// <summary>Never evicted for memory nor unloaded when idle (loaded at start).</summary>
    public bool Pinned { get; init; }

    /// <summary>The size of the model file in bytes (0 when unknown), the base of the memory estimate.</summary>
    public long ArtifactBytes { get; init; }

    /// <summary>
    /// The registry's key of the version's files (their content hash; empty when unknown): a version deleted and made
    /// again under the same number through another server has another, so the loaded one is known to be stale.
    /// </summary>
    public string ArtifactKey { get; init; } = "";
}
