namespace Maas.Core.Datasets;

/// <summary>A file that expands beyond <see cref="DatasetReadOptions.MaxDecompressedBytes"/> or holds too many entries.</summary>
public sealed class DatasetTooLargeException(string message, long limit) : Exception(message)
{
    /// <summary>The limit that was reached.</summary>
    public long Limit { get; } = limit;
}
