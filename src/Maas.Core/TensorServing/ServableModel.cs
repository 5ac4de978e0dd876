using Maas.Core.Formats;

namespace Maas.Core.TensorServing;

/// <summary>A model version the serving layer can load: where its file is and how to schedule it.</summary>
public sealed record ServableModel
{
    /// <summary>The model's name.</summary>
    public required string Name { get; init; }

    /// <summary>The version number.</summary>
    public required int Version { get; init; }

    /// <summary>The artifact's format.</summary>
    public required ModelFormat Format { get; init; }

    /// <summary>Scheduling for this model (server defaults merged with the model's own configuration).</summary>
    public required SchedulerOptions Scheduler { get; init; }

    /// <summary>Load when the server starts instead of on the first request.</summary>
    public bool LoadAtStart { get; init; }

    /// <summary>Never evicted for memory nor unloaded when idle; loaded at start.</summary>
    public bool Pinned { get; init; }

    /// <summary>The size of the model file in bytes (0 when unknown), the base of its memory estimate.</summary>
    public long SizeBytes { get; init; }

    /// <summary>The registry's key of the version's files (<see cref="Hosting.ModelLoadRequest.ArtifactKey"/>); empty when unknown.</summary>
    public string ArtifactKey { get; init; } = "";

    /// <summary>Unload after this long without requests (null or zero: stay loaded).</summary>
    public TimeSpan? KeepAlive { get; init; }

    /// <summary>The signature as the registry read it from the file, for metadata before the model is loaded.</summary>
    public IReadOnlyList<TensorMetadata>? Inputs { get; init; }

    /// <summary>The outputs as the registry read them from the file.</summary>
    public IReadOnlyList<TensorMetadata>? Outputs { get; init; }

    /// <summary>
    /// Class labels by output name, for the classification extension: the model's serving configuration, else what the
    /// version carries; null when it names none. Not an engine setting: a change needs no reload.
    /// </summary>
    public IReadOnlyDictionary<string, IReadOnlyList<string>>? Labels { get; init; }
}
