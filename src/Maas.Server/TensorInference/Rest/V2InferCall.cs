using Maas.Core.TensorServing;
using Maas.Server.TensorInference.SharedMemory;

namespace Maas.Server.TensorInference.Rest;

/// <summary>An infer request read from HTTP, with the binary-output choices the response needs.</summary>
internal sealed class V2InferCall
{
    /// <summary>The request for the scheduler (which takes ownership of it).</summary>
    public required InferenceRequest Request { get; init; }

    /// <summary>Per requested output: whether it goes back as binary data.</summary>
    public Dictionary<string, bool> BinaryOutputs { get; } = new(StringComparer.Ordinal);

    /// <summary>The request-level "binary_data_output" parameter.</summary>
    public bool BinaryByDefault { get; init; }

    /// <summary>Whether an output goes back as binary data.</summary>
    public bool IsBinary(string output) => BinaryOutputs.TryGetValue(output, out var b) ? b : BinaryByDefault;

    /// <summary>The outputs asked for with the classification extension, and how many classes of each row to return.</summary>
    public Dictionary<string, int> Classifications { get; } = new(StringComparer.Ordinal);

    /// <summary>The outputs to write into shared-memory regions instead of the response (the shared memory extension).</summary>
    public IReadOnlyDictionary<string, SharedMemoryReference> SharedMemoryOutputs { get; init; } = SharedMemoryReference.None;
}
