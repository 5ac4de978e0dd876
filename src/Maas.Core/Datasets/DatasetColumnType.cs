namespace Maas.Core.Datasets;

/// <summary>The type of a dataset column, inferred from its values.</summary>
public enum DatasetColumnType
{
    /// <summary>Numbers (stored as doubles; integers stay exact up to 2^53).</summary>
    Number,

    /// <summary>Text: categories or free text.</summary>
    String,

    /// <summary>true / false.</summary>
    Boolean,

    /// <summary>A fixed-shape grid of bytes (an IDX image), one per row.</summary>
    Image,
}
