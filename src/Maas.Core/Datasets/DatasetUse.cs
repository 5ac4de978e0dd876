namespace Maas.Core.Datasets;

/// <summary>A model version whose lineage names a dataset version (which then may not be deleted unless forced).</summary>
public sealed record DatasetUse(string Dataset, int Version, string Model, int ModelVersion);
