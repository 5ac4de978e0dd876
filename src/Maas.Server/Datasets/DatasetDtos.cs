using Maas.Core.Datasets;
using Maas.Core.Registry;

namespace Maas.Server.Datasets;

/// <summary>POST /api/v1/datasets.</summary>
public sealed record CreateDatasetRequest(string? Name, string? Visibility, string? Description, string? Owner);

/// <summary>A dataset as the API shows it.</summary>
public sealed record DatasetResponse(
    string Name,
    string Owner,
    ModelVisibility Visibility,
    string Description,
    int? LatestVersion,
    string CreatedBy,
    DateTimeOffset CreatedAt,
    string Url)
{
    /// <summary>Its versions, in the single-dataset view.</summary>
    public IReadOnlyList<DatasetVersionResponse>? Versions { get; init; }

    /// <summary>The API view of a dataset.</summary>
    public static DatasetResponse From(Dataset d) =>
        new(d.Name, d.Owner, d.Visibility, d.Description, d.LatestVersion, d.CreatedBy, d.CreatedAt, $"/api/v1/datasets/{d.Name}");
}

/// <summary>A dataset version as the API shows it.</summary>
public sealed record DatasetVersionResponse(
    string Dataset,
    int Version,
    string Format,
    string FileName,
    string Sha256,
    long SizeBytes,
    long Rows,
    IReadOnlyList<DatasetColumn> Schema,
    IReadOnlyList<ColumnStatistics>? Statistics,
    string CreatedBy,
    DateTimeOffset CreatedAt,
    string Url)
{
    /// <summary>The API view of a version; <paramref name="withStatistics"/> false for listings.</summary>
    public static DatasetVersionResponse From(DatasetVersion v, bool withStatistics = true) => new(
        v.Dataset,
        v.Version,
        DatasetFormats.Name(v.Format),
        v.FileName,
        v.Sha256,
        v.SizeBytes,
        v.Rows,
        v.Schema,
        withStatistics ? v.Statistics : null,
        v.CreatedBy,
        v.CreatedAt,
        $"/api/v1/datasets/{v.Dataset}/versions/{v.Version}");
}

/// <summary>A resumable dataset upload as the API shows it (the registry's session shape, with its dataset).</summary>
public sealed record DatasetUploadResponse(string Id, string Dataset, string Filename, long? Size, long Offset, string? Sha256, DateTimeOffset CreatedAt, DateTimeOffset ExpiresAt,
    string Url)
{
    /// <summary>The API view of a session.</summary>
    public static DatasetUploadResponse From(DatasetUploadSession s) =>
        new(s.Id, s.Dataset, s.FileName, s.TotalBytes, s.Offset, s.ExpectedSha256, s.CreatedAt, s.ExpiresAt, $"/api/v1/datasets/{s.Dataset}/uploads/{s.Id}");
}
