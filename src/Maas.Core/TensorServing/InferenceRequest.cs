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
