namespace Maas.Core.Datasets;

/// <summary>The file formats a dataset version can be uploaded in; the file name's extension picks one.</summary>
public enum DatasetFormat
{
    /// <summary>Comma-separated values with a header row.</summary>
    Csv,

    /// <summary>Tab-separated values with a header row.</summary>
    Tsv,

    /// <summary>One JSON object per line.</summary>
    JsonLines,

    /// <summary>The MNIST IDX format: an images file and a labels file together in one zip or tar.</summary>
    Idx,

    /// <summary>Apache Parquet: flat columns of numbers, booleans, text and dates.</summary>
    Parquet,

    /// <summary>A zip or tar of pictures in one folder per class.</summary>
    ImageFolder,
}
