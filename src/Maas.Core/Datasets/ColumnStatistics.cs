namespace Maas.Core.Datasets;

/// <summary>The statistics of one column: counts, range and mean for numbers, class balance for few distinct values.</summary>
public sealed record ColumnStatistics
{
    /// <summary>The column's name.</summary>
    public required string Name { get; init; }

    /// <summary>Rows with a value.</summary>
    public long Count { get; init; }

    /// <summary>Rows without a value.</summary>
    public long Missing { get; init; }

    /// <summary>Distinct values (for images: not counted, null); capped at <see cref="DatasetStatisticsCalculator.MaxDistinct"/>.</summary>
    public long? Distinct { get; init; }

    /// <summary>True when there were more distinct values than counted.</summary>
    public bool? DistinctCapped { get; init; }

    /// <summary>The smallest number (numbers; pixel values for images).</summary>
    public double? Min { get; init; }

    /// <summary>The largest number.</summary>
    public double? Max { get; init; }

    /// <summary>The mean.</summary>
    public double? Mean { get; init; }

    /// <summary>How many rows hold each value, for columns with at most <see cref="DatasetStatisticsCalculator.MaxClasses"/> distinct values.</summary>
    public IReadOnlyDictionary<string, long>? ClassBalance { get; init; }
}
