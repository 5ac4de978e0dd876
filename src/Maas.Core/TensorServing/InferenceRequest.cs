namespace Maas.Core.TensorServing;

/// <summary>One inference call as the scheduler sees it, whatever protocol it came in on.</summary>
/// <remarks>The scheduler takes ownership: it disposes the input tensors once they are no longer needed.</remarks>
public sealed class InferenceRequest : IDisposable
{
    /// <summary>The caller's request id, echoed in the response.</summary>
    public string? Id { get; init; }

    /// <summary>The input tensors.</summary>
    public required IReadOnlyList<Tensor> Inputs { get; init; }

    /// <summary>The outputs to return; null returns every output of the model.</summary>
    public IReadOnlyList<string>? RequestedOutputs { get; init; }

    /// <summary>Protocol parameters (values are bool, long, ulong, double or string).</summary>
    public IReadOnlyDictionary<string, object>? Parameters { get; init; }

    /// <summary>
    /// Requested outputs the caller wants ranked (the classification extension): each must be numeric, which the
    /// scheduler checks against the model's outputs with the rest of the request, before it is queued.
    /// </summary>
    public IReadOnlyCollection<string>? RankedOutputs { get; init; }

    /// <summary>How long the request may take in total; null uses the model's configured timeout.</summary>
    public TimeSpan? Timeout { get; init; }

    /// <summary>Disposes the input tensors.</summary>
    public void Dispose()
    {
        foreach (var t in Inputs)
        {
            t.Dispose();
        }
    }
}

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
