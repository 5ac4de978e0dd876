using Maas.Core.TensorServing;

namespace Maas.Server.TensorInference.SharedMemory;

/// <summary>Where a tensor's bytes lie in a registered region: the "shared_memory_*" parameters of one input or output.</summary>
/// <param name="Region">The region, found when the request was read.</param>
/// <param name="Offset">"shared_memory_offset": bytes into the region (0 when not given).</param>
/// <param name="ByteSize">"shared_memory_byte_size": the bytes the tensor has (an input) or may take (an output).</param>
internal sealed record SharedMemoryReference(SharedMemoryRegion Region, long Offset, long ByteSize)
{
    /// <summary>No tensor in shared memory: what a call without the extension carries, allocated once.</summary>
    public static readonly IReadOnlyDictionary<string, SharedMemoryReference> None = new Dictionary<string, SharedMemoryReference>();

    /// <summary>The parameter naming the region.</summary>
    public const string RegionParameter = "shared_memory_region";

    /// <summary>The parameter giving the tensor's size.</summary>
    public const string ByteSizeParameter = "shared_memory_byte_size";

    /// <summary>The parameter giving the tensor's offset in the region.</summary>
    public const string OffsetParameter = "shared_memory_offset";

    /// <summary>
    /// Reads the shared-memory parameters of <paramref name="owner"/> (e.g. "input 'x'"); null when it names no region.
    /// Refuses a region parameter without a size (and the reverse), values of the wrong type, and a window that does
    /// not fit the region.
    /// </summary>
    public static SharedMemoryReference? Read(
        IReadOnlyDictionary<string, object>? parameters, string owner, SystemSharedMemoryRegistry? registry, string tenant)
    {
        if (parameters is null)
        {
            return null;
        }

        var hasRegion = parameters.TryGetValue(RegionParameter, out var regionValue);
        var hasSize = parameters.TryGetValue(ByteSizeParameter, out var sizeValue);
        var hasOffset = parameters.TryGetValue(OffsetParameter, out var offsetValue);
        if (!hasRegion && !hasSize && !hasOffset)
        {
            return null;
        }

        if (!hasRegion || !hasSize)
        {
            throw InferenceErrors.Invalid(
                $"{owner}: \"{RegionParameter}\" and \"{ByteSizeParameter}\" must be given together (\"{OffsetParameter}\" is optional)");
        }

        if (regionValue is not string name)
        {
            throw InferenceErrors.Invalid($"{owner}: \"{RegionParameter}\" must be a string (a registered region's name)");
        }

        var size = NonNegative(sizeValue, owner, ByteSizeParameter);
        var offset = hasOffset ? NonNegative(offsetValue, owner, OffsetParameter) : 0;
        var region = (registry ?? throw SystemSharedMemoryRegistry.Disabled()).Find(tenant, name, owner);
        if (offset > region.ByteSize || size > region.ByteSize - offset)
        {
            throw InferenceErrors.Invalid(
                $"{owner}: {OffsetParameter} {offset} + {ByteSizeParameter} {size} is past the end of shared memory region '{name}' ({region.ByteSize} bytes)");
        }

        return new SharedMemoryReference(region, offset, size);
    }

    /// <summary>
    /// Copies each output of <paramref name="response"/> that <paramref name="outputs"/> places in shared memory into its
    /// region, before anything is answered, so that one that does not fit is refused (400) rather than cut short.
    /// </summary>
    public static void WriteOutputs(InferenceResponse response, IReadOnlyDictionary<string, SharedMemoryReference> outputs)
    {
        if (outputs.Count == 0)
        {
            return;
        }

        foreach (var output in response.Outputs)
        {
            if (!outputs.TryGetValue(output.Name, out var shm))
            {
                continue;
            }

            if (output.Data.Length > shm.ByteSize)
            {
                throw InferenceErrors.Invalid(
                    $"output '{output.Name}' is {output.Data.Length} bytes ({output.DataType.Name()} shape {TensorShape.Format(output.Shape)}), more than its " +
                    $"shared_memory_byte_size of {shm.ByteSize}");
            }

            shm.Region.Write(shm.Offset, output.Data.Span, $"output '{output.Name}'");
        }
    }

    /// <summary>Refuses an input whose window is not the size its datatype and shape need (BYTES: any size).</summary>
    public void CheckInputSize(string input, TensorDataType type, long[] shape, long count)
    {
        if (type != TensorDataType.Bytes && ByteSize != count * type.ElementSize())
        {
            throw InferenceErrors.Invalid(
                $"input '{input}': shared_memory_byte_size is {ByteSize} bytes but {type.Name()} shape {TensorShape.Format(shape)} needs {count * type.ElementSize()} bytes " +
                $"({count} elements of {type.ElementSize()})");
        }
    }

    /// <summary>
    /// The input's tensor, copied out of the region into a pooled buffer (the engine then owns its copy, whatever the
    /// client writes next). <paramref name="total"/> is the bytes this request read from shared memory so far,
    /// this input included: at most <paramref name="limit"/>, as a body could carry.
    /// </summary>
    public Tensor ReadInput(string input, TensorDataType type, long[] shape, long total, long limit)
    {
        if (total > limit)
        {
            throw InferenceErrors.Invalid(
                $"the inputs read from shared memory add up to {total} bytes, over the limit of {limit} bytes for one request (Maas:Inference:MaxRequestBodyBytes)");
        }

        var buffer = PooledBuffer.Rent(ByteSize);
        try
        {
            Region.Read(Offset, buffer.Span, $"input '{input}'");
            return Tensor.Wrap(input, type, shape, buffer.Memory, buffer);
        }
        catch
        {
            buffer.Dispose();
            throw;
        }
    }

    private static long NonNegative(object? value, string owner, string parameter) => value switch
    {
        long and >= 0 and var l => l,
        ulong u when u <= long.MaxValue => (long)u,
        _ => throw InferenceErrors.Invalid($"{owner}: \"{parameter}\" must be a non-negative integer, not {value}"),
    };
}
