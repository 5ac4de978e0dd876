namespace Maas.Core.Datasets.Readers;

/// <summary>Metadata that ends before what it declares: its reader says where.</summary>
internal sealed class ParquetCutShortException(string message) : Exception(message);
