namespace Maas.Core.Datasets;

/// <summary>One column of a dataset: its name, type and, for images, the shape of each value.</summary>
public sealed record DatasetColumn(string Name, DatasetColumnType Type, IReadOnlyList<int>? Shape = null);
