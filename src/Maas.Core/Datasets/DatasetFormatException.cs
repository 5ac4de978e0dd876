namespace Maas.Core.Datasets;

/// <summary>A file that cannot be read as the format its name says; the message names the line or record.</summary>
public sealed class DatasetFormatException(string message, IReadOnlyDictionary<string, object?>? details = null) : Exception(message)
{
    /// <summary>What the error body carries besides the message (a limit's setting and value, the line and row); null for none.</summary>
    public IReadOnlyDictionary<string, object?>? Details { get; } = details;
}
