using Maas.Core.Registry;

namespace Maas.Core.Datasets;

/// <summary>A named, tenant-owned collection of numbered, immutable dataset versions.</summary>
public sealed record Dataset
{
    /// <summary>The unique name.</summary>
    public required string Name { get; init; }

    /// <summary>The owning tenant.</summary>
    public required string Owner { get; init; }

    /// <summary>Private (the owner's tenant only) or shared (every tenant may read it).</summary>
    public ModelVisibility Visibility { get; init; }

    /// <summary>Free text.</summary>
    public string Description { get; init; } = "";

    /// <summary>Who created it.</summary>
    public string CreatedBy { get; init; } = "";

    /// <summary>When it was created.</summary>
    public DateTimeOffset CreatedAt { get; init; }

    /// <summary>The newest version, if any.</summary>
    public int? LatestVersion { get; init; }
}

/// <summary>One uploaded file of a dataset: stored content-addressed, with its schema and statistics.</summary>
public sealed record DatasetVersion
{
    /// <summary>The dataset's name.</summary>
    public required string Dataset { get; init; }

    /// <summary>The version number (1, 2, ...).</summary>
    public int Version { get; init; }

    /// <summary>The file format.</summary>
    public DatasetFormat Format { get; init; }

    /// <summary>True when the stored file is gzip-compressed as a whole.</summary>
    public bool Gzip { get; init; }

    /// <summary>The uploaded file's name.</summary>
    public string FileName { get; init; } = "";

    /// <summary>The SHA-256 of the uploaded bytes, which is also the artifact key.</summary>
    public string Sha256 { get; init; } = "";

    /// <summary>The uploaded size.</summary>
    public long SizeBytes { get; init; }

    /// <summary>The number of rows (records).</summary>
    public long Rows { get; init; }

    /// <summary>The columns with their inferred types.</summary>
    public IReadOnlyList<DatasetColumn> Schema { get; init; } = [];

    /// <summary>Per-column statistics.</summary>
    public IReadOnlyList<ColumnStatistics> Statistics { get; init; } = [];

    /// <summary>Who uploaded it.</summary>
    public string CreatedBy { get; init; } = "";

    /// <summary>When it was uploaded.</summary>
    public DateTimeOffset CreatedAt { get; init; }
}

/// <summary>A model version whose lineage names a dataset version (which then may not be deleted unless forced).</summary>
public sealed record DatasetUse(string Dataset, int Version, string Model, int ModelVersion);

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
