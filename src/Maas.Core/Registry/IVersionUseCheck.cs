namespace Maas.Core.Registry;

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
