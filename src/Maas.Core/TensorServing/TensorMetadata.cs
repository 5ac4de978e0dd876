namespace Maas.Core.TensorServing;

/// <summary>An input or output of a model: name, datatype and shape (-1 for a dimension fixed only at run time).</summary>
public sealed record TensorMetadata(string Name, TensorDataType DataType, long[] Shape)
{
    /// <summary>True when the first dimension is dynamic, so requests can be stacked along it.</summary>
    public bool HasDynamicBatchDimension => Shape.Length > 0 && Shape[0] < 0;
}
