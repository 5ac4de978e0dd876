namespace Maas.Core.Datasets;

/// <summary>What an uploader may choose about how a new dataset version is read.</summary>
public sealed record DatasetUploadChoices
{
    /// <summary>Column types that replace the inferred ones.</summary>
    public IReadOnlyDictionary<string, DatasetColumnType>? Schema { get; init; }

    /// <summary>The size pictures of an image-folder archive are resized to.</summary>
    public DatasetImageSize? ImageSize { get; init; }
}
