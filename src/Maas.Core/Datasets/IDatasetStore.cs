namespace Maas.Core.Datasets;

/// <summary>Persistence of datasets, their versions and the model versions trained from them.</summary>
public interface IDatasetStore
{
    /// <summary>Creates a dataset; dataset_exists when the name is taken.</summary>
    Task<Dataset> CreateDatasetAsync(Dataset dataset, CancellationToken cancellationToken);

    /// <summary>One dataset, or null.</summary>
    Task<Dataset?> GetDatasetAsync(string name, CancellationToken cancellationToken);

    /// <summary>Datasets by name; only those <paramref name="visibleTo"/> owns or shares when given.</summary>
    Task<IReadOnlyList<Dataset>> ListDatasetsAsync(string? visibleTo, CancellationToken cancellationToken);

    /// <summary>
    /// Adds a version with the next free number and returns it, dropping storage reservation
    /// <paramref name="releasedReservation"/> in the same step (its bytes count as the version's from then on).
    /// </summary>
    Task<DatasetVersion> AddVersionAsync(DatasetVersion version, CancellationToken cancellationToken, string? releasedReservation = null);

    /// <summary>One version, or null.</summary>
    Task<DatasetVersion?> GetVersionAsync(string dataset, int version, CancellationToken cancellationToken);

    /// <summary>The versions of a dataset, ascending.</summary>
    Task<IReadOnlyList<DatasetVersion>> ListVersionsAsync(string dataset, CancellationToken cancellationToken);

    /// <summary>Deletes a version; returns its artifact key, or null when it was not there.</summary>
    Task<string?> DeleteVersionAsync(string dataset, int version, CancellationToken cancellationToken);

    /// <summary>Deletes a dataset with its versions; returns their artifact keys, or null when it was not there.</summary>
    Task<IReadOnlyList<string>?> DeleteDatasetAsync(string dataset, CancellationToken cancellationToken);

    /// <summary>Records that a model version was trained from a dataset version.</summary>
    Task AddUseAsync(DatasetUse use, CancellationToken cancellationToken);

    /// <summary>The model versions trained from the dataset (one version of it when <paramref name="version"/> is given).</summary>
    Task<IReadOnlyList<DatasetUse>> ListUsesAsync(string dataset, int? version, CancellationToken cancellationToken);

    /// <summary>True when a dataset version stores its file under <paramref name="artifactKey"/>.</summary>
    Task<bool> IsArtifactReferencedAsync(string artifactKey, CancellationToken cancellationToken);

    /// <summary>Records a new resumable upload session.</summary>
    Task CreateUploadSessionAsync(DatasetUploadSession session, CancellationToken cancellationToken);

    /// <summary>A session (its <see cref="DatasetUploadSession.Offset"/> is 0: the staged file knows the real one), or null.</summary>
    Task<DatasetUploadSession?> GetUploadSessionAsync(string id, CancellationToken cancellationToken);

    /// <summary>Every session, oldest first (for expiry and the start-up sweep).</summary>
    Task<IReadOnlyList<DatasetUploadSession>> ListUploadSessionsAsync(CancellationToken cancellationToken);

    /// <summary>How many sessions a tenant has open.</summary>
    Task<int> CountUploadSessionsAsync(string owner, CancellationToken cancellationToken);

    /// <summary>Forgets a session.</summary>
    Task DeleteUploadSessionAsync(string id, CancellationToken cancellationToken);
}
