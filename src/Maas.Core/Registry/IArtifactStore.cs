namespace Maas.Core.Registry;

/// <summary>Content-addressed storage of version artifacts (local filesystem or S3-compatible).</summary>
/// <remarks>
/// A key is a lowercase SHA-256 hex string: of the file for a one-file artifact, of the file list for a bundle
/// (an .onnx with its external data files). A commit is all or nothing, so a crash never leaves half an object.
/// </remarks>
public interface IArtifactStore
{
    /// <summary>A short name for logs and the API ("filesystem", "s3").</summary>
    string Kind { get; }

    /// <summary>True when the artifact exists.</summary>
    Task<bool> ExistsAsync(string key, CancellationToken cancellationToken);

    /// <summary>
    /// Stores a staged file (or, for a bundle, a staged folder of files) under <paramref name="key"/>, consuming it.
    /// When the key already exists the staged copy is dropped (same content, same key).
    /// </summary>
    Task CommitAsync(string key, string stagedPath, bool bundle, CancellationToken cancellationToken);

    /// <summary>Opens a one-file artifact (<paramref name="file"/> null) or one file of a bundle for reading.</summary>
    /// <exception cref="FileNotFoundException">The artifact or file is not there.</exception>
    Task<ArtifactContent> OpenAsync(string key, string? file, CancellationToken cancellationToken);

    /// <summary>
    /// A local path engines can load from: the file itself for the filesystem store, a verified local copy for remote
    /// stores. For a bundle, the files sit next to each other under the returned file's folder.
    /// </summary>
    Task<string> GetLocalPathAsync(string key, string? file, CancellationToken cancellationToken);

    /// <summary>Deletes an artifact (no error when it is already gone).</summary>
    Task DeleteAsync(string key, CancellationToken cancellationToken);

    /// <summary>Every key in the store, for the orphan sweep.</summary>
    IAsyncEnumerable<string> ListKeysAsync(CancellationToken cancellationToken);

    /// <summary>
    /// Removes leftovers of interrupted commits begun before <paramref name="startedBefore"/> (younger ones may be
    /// commits another process sharing the store has under way); returns how many.
    /// </summary>
    Task<int> RemoveTemporaryAsync(DateTimeOffset startedBefore, CancellationToken cancellationToken);

    /// <summary>When the artifact was committed, where the store can tell (null: it cannot, or the artifact is not there).</summary>
    Task<DateTimeOffset?> GetCommittedAtAsync(string key, CancellationToken cancellationToken) => Task.FromResult<DateTimeOffset?>(null);
}
