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

/// <summary>One registry change: the model (by its key), and the version or alias it concerns.</summary>
public sealed record RegistryChange(RegistryChangeKind Kind, string Model, int? Version = null, string? Alias = null);

/// <summary>Lets serving refuse to delete a version it is running ("deployed") unless forced, and drop its hold once a model is gone.</summary>
public interface IVersionUseCheck
{
    /// <summary>Why <paramref name="version"/> is in use, or null when it is free to delete.</summary>
    ValueTask<string?> GetUseAsync(ModelVersion version, CancellationToken cancellationToken);

    /// <summary>
    /// Called after the model of key <paramref name="model"/> was deleted (forced past its uses), before the delete
    /// answers: whatever still names it goes too, so a model created later under the same name starts clean.
    /// </summary>
    ValueTask ModelDeletedAsync(string model, CancellationToken cancellationToken) => ValueTask.CompletedTask;

    /// <summary>
    /// Called once a delete of <paramref name="version"/> was decided (with force when it was in use, or nothing used
    /// it), just before it is deleted: whatever routes to it moves off it while it still exists, so nothing meets it
    /// missing in between. Should the delete then fail, the version stays and what moved off it stays moved.
    /// </summary>
    ValueTask VersionDeletingAsync(ModelVersion version, CancellationToken cancellationToken) => ValueTask.CompletedTask;

    /// <summary>
    /// Called after <paramref name="version"/> was deleted (with force when it was in use), before the delete answers:
    /// whatever still routes to it (named since <see cref="VersionDeletingAsync"/>) moves off it.
    /// </summary>
    ValueTask VersionDeletedAsync(ModelVersion version, CancellationToken cancellationToken) => ValueTask.CompletedTask;
}
