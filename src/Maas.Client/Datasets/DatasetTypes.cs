using System.Text.Json;
using System.Text.Json.Serialization;

namespace Maas.Client.Datasets;

/// <summary>A dataset as the server returns it (with its versions when fetched one by one).</summary>
public sealed record DatasetInfo
{
    public required string Name { get; init; }

    public string? Owner { get; init; }

    public string? Visibility { get; init; }

    public string? Description { get; init; }

    public int? LatestVersion { get; init; }

    public string? CreatedBy { get; init; }

    public DateTimeOffset? CreatedAt { get; init; }

    public string? Url { get; init; }

    public IReadOnlyList<DatasetVersionInfo>? Versions { get; init; }

    /// <summary>Fields this client does not know.</summary>
    [JsonExtensionData]
    public Dictionary<string, JsonElement>? Extra { get; init; }
}

/// <summary>The datasets a key may see.</summary>
public sealed record DatasetList(IReadOnlyList<DatasetInfo> Datasets);

/// <summary>One version of a dataset: its file, schema and (when fetched one by one) column statistics.</summary>
public sealed record DatasetVersionInfo
{
    public required string Dataset { get; init; }

    public int Version { get; init; }

    public string? Format { get; init; }

    public string? FileName { get; init; }

    public string? Sha256 { get; init; }

    public long SizeBytes { get; init; }

    public long Rows { get; init; }

    public IReadOnlyList<DatasetColumnInfo> Schema { get; init; } = [];

    public IReadOnlyList<ColumnStatisticsInfo>? Statistics { get; init; }

    public string? CreatedBy { get; init; }

    public DateTimeOffset? CreatedAt { get; init; }

    public string? Url { get; init; }

    /// <summary>Fields this client does not know.</summary>
    [JsonExtensionData]
    public Dictionary<string, JsonElement>? Extra { get; init; }
}

/// <summary>The versions of a dataset.</summary>
public sealed record DatasetVersionList(IReadOnlyList<DatasetVersionInfo> Versions);

/// <summary>A column of a dataset's schema: <c>number</c>, <c>string</c>, <c>boolean</c> or <c>image</c> (with its shape).</summary>
public sealed record DatasetColumnInfo(string Name, string Type, IReadOnlyList<int>? Shape = null);

/// <summary>What a column holds: counts, range, mean, and the rows per value for columns with few values.</summary>
public sealed record ColumnStatisticsInfo
{
    public required string Name { get; init; }

    public long Count { get; init; }

    public long Missing { get; init; }

    public long? Distinct { get; init; }

    public bool? DistinctCapped { get; init; }

    public double? Min { get; init; }

    public double? Max { get; init; }

    public double? Mean { get; init; }

    public IReadOnlyDictionary<string, long>? ClassBalance { get; init; }
}

/// <summary>The first rows of a dataset version.</summary>
public sealed record DatasetPreview(string Dataset, int Version, long RowsTotal, IReadOnlyList<DatasetColumnInfo> Columns, IReadOnlyList<Dictionary<string, JsonElement>> Rows);

/// <summary>How a dataset file is read when it is uploaded.</summary>
public sealed record DatasetUploadOptions
{
    /// <summary><c>COLUMN:TYPE,...</c>: types that replace the inferred ones.</summary>
    public string? Schema { get; init; }

    /// <summary><c>WIDTHxHEIGHT</c> (or one number): pictures of an image folder resized to it.</summary>
    public string? ImageSize { get; init; }
}

/// <summary>A resumable upload of a dataset file: where it stands (<see cref="Offset"/>) and when it expires.</summary>
public sealed record DatasetUploadSession(string Id, string Dataset, string Filename, long? Size, long Offset, string? Sha256, DateTimeOffset? CreatedAt,
    DateTimeOffset? ExpiresAt, string? Url);
