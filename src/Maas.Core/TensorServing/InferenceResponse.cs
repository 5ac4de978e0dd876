namespace Maas.Core.TensorServing;

/// <summary>The result of one inference call.</summary>
public sealed class InferenceResponse : IDisposable
{
    /// <summary>The model's name.</summary>
    public required string ModelName { get; init; }

    /// <summary>The version that served the call.</summary>
    public required string ModelVersion { get; init; }

    /// <summary>The caller's request id, if it gave one.</summary>
    public string? Id { get; init; }

    /// <summary>The output tensors, in the model's output order (or the requested order).</summary>
    public required IReadOnlyList<Tensor> Outputs { get; init; }

    /// <summary>Response parameters (values are bool, long, ulong, double or string).</summary>
    public IReadOnlyDictionary<string, object>? Parameters { get; init; }

    /// <summary>The rows this call put through the model (its share of a batch; 1 for a model without a batch dimension).</summary>
    public long BatchItems { get; init; }

    /// <summary>This call's share of its batch's compute time (input assembly, engine run, output split), by rows.</summary>
    /// <remarks>Usage metering bills it; a call alone in its batch gets the whole run.</remarks>
    public TimeSpan ComputeTime { get; init; }

    /// <summary>Disposes the output tensors.</summary>
    public void Dispose()
    {
        foreach (var t in Outputs)
        {
            t.Dispose();
        }
    }
}
