namespace Maas.Core.Datasets.Readers;

/// <summary>Bytes left before a file counts as too large once expanded; shared by every stream and picture of one file.</summary>
internal sealed class DecompressionBudget(long limit)
{
    private long _spent;

    public long Limit { get; } = limit;

    public void Spend(long bytes)
    {
        _spent += bytes;
        if (_spent > Limit)
        {
            throw new DatasetTooLargeException(
                $"the file expands to more than {Limit} bytes (Maas:Datasets:MaxDecompressedBytes); upload a smaller file or raise the limit",
                Limit);
        }
    }
}
