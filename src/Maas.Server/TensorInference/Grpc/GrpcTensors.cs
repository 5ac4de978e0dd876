using System.Buffers;
using System.Buffers.Binary;
using Google.Protobuf;
using Maas.Core.TensorServing;
using Maas.Server.TensorInference.Grpc.Protocol;
using Maas.Server.TensorInference.SharedMemory;

namespace Maas.Server.TensorInference.Grpc;

/// <summary>Converts between v2 gRPC messages and serving requests, keeping raw tensor bytes out of protobuf objects.</summary>
internal static class GrpcTensors
{
    private const int RawInputContentsField = 7;
    private const int RawOutputContentsField = 6;

    /// <summary>
    /// Parses a ModelInferRequest. The raw_input_contents entries are not materialised as ByteStrings: each is copied
    /// once, from the pooled message buffer into its input's own pooled tensor buffer.
    /// </summary>
    /// <param name="callTimeout">What is left of the call's grpc-timeout: the request's timeout, or the "timeout" parameter's when shorter.</param>
    /// <param name="sharedMemory">The regions inputs and outputs may name (null: the extension is not served).</param>
    /// <param name="tenant">The caller's tenant, whose regions those are.</param>
    public static (ModelInferRequest Header, InferenceRequest Request, Dictionary<string, int> Classifications,
        IReadOnlyDictionary<string, SharedMemoryReference> SharedMemoryOutputs) ParseInferRequest(
        ReadOnlySpan<byte> message, InferenceOptions options, TimeSpan? callTimeout = null, SystemSharedMemoryRegistry? sharedMemory = null, string tenant = "")
    {
        var raws = new List<Range>();
        var header = ParseWithoutRaw(message, raws);
        var tensors = ReadInputs(message, header, raws, options, sharedMemory, tenant);
        Dictionary<string, int> classifications;
        IReadOnlyDictionary<string, SharedMemoryReference> sharedMemoryOutputs;
        try
        {
            classifications = Classifications(header);
            sharedMemoryOutputs = SharedMemoryOutputs(header, sharedMemory, tenant);
        }
        catch
        {
            tensors.ForEach(t => t.Dispose());
            throw;
        }

        var parameters = Parameters(header.Parameters);
        if (header.Parameters.TryGetValue("timeout", out var timeout)
            && timeout is not (
            {
                ParameterChoiceCase: InferParameter.ParameterChoiceOneofCase.Int64Param,
                Int64Param: >= 0
            } or { ParameterChoiceCase: InferParameter.ParameterChoiceOneofCase.Uint64Param }))
        {
            // Ignoring it would leave the caller believing its timeout applied (Triton refuses it too).
            tensors.ForEach(t => t.Dispose());
            throw InferenceErrors.Invalid($"the request parameter \"timeout\" must be a non-negative int64_param or a uint64_param (microseconds), not {timeout}");
        }

        var request = new InferenceRequest
        {
            Id = header.Id is { Length: > 0 } id ? id : null,
            Inputs = tensors,
            Parameters = parameters,
            RequestedOutputs = header.Outputs.Count > 0 ? header.Outputs.Select(o => o.Name).ToArray() : null,
            RankedOutputs = classifications.Count > 0 ? [.. classifications.Keys] : null,
            Timeout = InferenceTimeouts.FromParameters(parameters) is { } t && (callTimeout is null || t < callTimeout) ? t : callTimeout,
        };
        return (header, request, classifications, sharedMemoryOutputs);
    }

    // The inputs as tensors: from shared memory, raw_input_contents (one entry per input not in shared memory, in
    // order) or typed contents; on a refusal the tensors read so far are returned to their pools.
    private static List<Tensor> ReadInputs(
        ReadOnlySpan<byte> message, ModelInferRequest header, List<Range> raws, InferenceOptions options, SystemSharedMemoryRegistry? sharedMemory, string tenant)
    {
        var tensors = new List<Tensor>(header.Inputs.Count);
        try
        {
            // Inputs in shared memory have no raw_input_contents entry: the entries belong to the others, in order.
            var inShared = header.Inputs.Select(input => SharedMemoryReference.Read(Parameters(input.Parameters), $"input '{input.Name}'", sharedMemory, tenant)).ToArray();
            var carried = inShared.Count(r => r is null);
            if (raws.Count > 0 && raws.Count != carried)
            {
                throw InferenceErrors.Invalid(carried == header.Inputs.Count
                    ? $"raw_input_contents has {raws.Count} entries but the request has {header.Inputs.Count} inputs; give one per input, in order"
                    : $"raw_input_contents has {raws.Count} entries but the request has {carried} inputs that are not in shared memory; give one per such input, in order");
            }

            long sharedBytes = 0;
            var rawIndex = 0;
            for (var i = 0; i < header.Inputs.Count; i++)
            {
                var input = header.Inputs[i];
                var (type, shape, count) = Describe(input.Name, input.Datatype, input.Shape, options);
                if (inShared[i] is { } shm)
                {
                    sharedBytes += shm.ByteSize;
                    tensors.Add(FromSharedMemory(input, type, shape, count, shm, sharedBytes, options.MaxRequestBodyBytes));
                }
                else if (raws.Count > 0)
                {
                    tensors.Add(FromRaw(input, type, shape, count, message[raws[rawIndex]], rawIndex));
                    rawIndex++;
                }
                else
                {
                    tensors.Add(FromContents(input.Name, type, shape, count, input.Contents));
                }
            }

            return tensors;
        }
        catch
        {
            tensors.ForEach(t => t.Dispose());
            throw;
        }
    }

    // One input's raw_input_contents entry, copied into a pooled buffer (the message's memory is not the call's to keep).
    private static Tensor FromRaw(ModelInferRequest.Types.InferInputTensor input, TensorDataType type, long[] shape, long count, ReadOnlySpan<byte> raw, int rawIndex)
    {
        if (input.Contents is not null)
        {
            throw InferenceErrors.Invalid($"input '{input.Name}' has both contents and raw_input_contents; give one");
        }

        if (type != TensorDataType.Bytes && raw.Length != count * type.ElementSize())
        {
            throw InferenceErrors.Invalid(
                $"input '{input.Name}': raw_input_contents[{rawIndex}] is {raw.Length} bytes but {type.Name()} shape {TensorShape.Format(shape)} needs " +
                $"{count * type.ElementSize()} bytes ({count} elements)");
        }

        var buffer = PooledBuffer.Rent(raw.Length);
        raw.CopyTo(buffer.Span);
        try
        {
            return Tensor.Wrap(input.Name, type, shape, buffer.Memory, buffer);
        }
        catch
        {
            buffer.Dispose();
            throw;
        }
    }

    // The requested outputs to be written into shared memory, by name (none for a call that does not use the extension).
    private static IReadOnlyDictionary<string, SharedMemoryReference> SharedMemoryOutputs(ModelInferRequest header, SystemSharedMemoryRegistry? sharedMemory, string tenant)
    {
        Dictionary<string, SharedMemoryReference>? outputs = null;
        foreach (var output in header.Outputs)
        {
            if (SharedMemoryReference.Read(Parameters(output.Parameters), $"output '{output.Name}'", sharedMemory, tenant) is { } shm)
            {
                (outputs ??= new(StringComparer.Ordinal))[output.Name] = shm;
            }
        }

        return outputs ?? SharedMemoryReference.None;
    }

    // An input whose bytes are in a shared-memory region (SharedMemoryReference.ReadInput); it has no contents.
    private static Tensor FromSharedMemory(ModelInferRequest.Types.InferInputTensor input, TensorDataType type, long[] shape, long count, SharedMemoryReference shm,
        long sharedBytes, long limit)
    {
        if (input.Contents is not null)
        {
            throw InferenceErrors.Invalid($"input '{input.Name}' is in shared memory region '{shm.Region.Name}' and has contents too; give one");
        }

        shm.CheckInputSize(input.Name, type, shape, count);
        return shm.ReadInput(input.Name, type, shape, sharedBytes, limit);
    }

    // The classification extension's counts by output: int64_param or uint64_param "classification", a positive integer.
    private static Dictionary<string, int> Classifications(ModelInferRequest header)
    {
        var result = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var output in header.Outputs)
        {
            if (output.Parameters.TryGetValue(OutputClassification.Parameter, out var p))
            {
                object? value = p.ParameterChoiceCase switch
                {
                    InferParameter.ParameterChoiceOneofCase.Int64Param => p.Int64Param,
                    InferParameter.ParameterChoiceOneofCase.Uint64Param => p.Uint64Param,
                    _ => null,
                };
                result[output.Name] = OutputClassification.ReadCount(output.Name, value, p.ToString());
            }
        }

        return result;
    }

    // Splits field 7 off the top-level message; everything else goes to the generated parser.
    private static ModelInferRequest ParseWithoutRaw(ReadOnlySpan<byte> message, List<Range> raws)
    {
        // The generated parser would drop a known field of the wrong wire type, at any depth (raw_input_contents as a
        // varint, an input's shape as fixed32): the call would be answered as if it had not been sent.
        ProtobufWireTypes.Check(message, ModelInferRequest.Descriptor);

        byte[]? rest = null;
        var restLength = 0;
        var position = 0;
        while (position < message.Length)
        {
            var start = position;
            var tag = GrpcFraming.ReadVarint(message, ref position);
            var wireType = (int)(tag & 7);
            var value = GrpcFraming.SkipValue(message, ref position, wireType, "protobuf message", start);
            if (wireType == 2 && (tag >> 3) == RawInputContentsField)
            {
                raws.Add(value);
                rest ??= CopyPrefix(message, start, ref restLength);
                continue;
            }

            if (rest is not null)
            {
                message[start..position].CopyTo(rest.AsSpan(restLength));
                restLength += position - start;
            }
        }

        try
        {
            return rest is null
                ? ModelInferRequest.Parser.ParseFrom(message)
                : ModelInferRequest.Parser.ParseFrom(rest.AsSpan(0, restLength));
        }
        catch (InvalidProtocolBufferException ex)
        {
            throw InferenceErrors.Invalid($"malformed ModelInferRequest: {ex.Message}");
        }
        finally
        {
            if (rest is not null)
            {
                ArrayPool<byte>.Shared.Return(rest);
            }
        }
    }

    private static byte[] CopyPrefix(ReadOnlySpan<byte> message, int end, ref int length)
    {
        var rest = ArrayPool<byte>.Shared.Rent(Math.Max(message.Length, 16));
        message[..end].CopyTo(rest);
        length = end;
        return rest;
    }

    private static (TensorDataType Type, long[] Shape, long Count) Describe(string name, string datatype, IList<long> dims, InferenceOptions options)
    {
        if (string.IsNullOrEmpty(name))
        {
            throw InferenceErrors.Invalid("every input needs a name");
        }

        if (!TensorDataTypes.TryParse(datatype, out var type))
        {
            throw InferenceErrors.Invalid($"input '{name}': datatype '{datatype}' is not one of {TensorDataTypes.NameList}");
        }

        var shape = dims.ToArray();
        var count = TensorShape.ElementCount(name, shape);
        if (count > options.MaxTensorElements)
        {
            throw InferenceErrors.Invalid(
                $"input '{name}' has {count} elements (shape {TensorShape.Format(shape)}), over the limit of {options.MaxTensorElements} elements per tensor " +
                $"(Maas:Inference:MaxTensorElements)");
        }

        return (type, shape, count);
    }

    private static Tensor FromContents(string name, TensorDataType type, long[] shape, long count, InferTensorContents? contents)
    {
        if (contents is null)
        {
            throw InferenceErrors.Invalid($"input '{name}' has no data: give contents or raw_input_contents");
        }

        if (type == TensorDataType.Bytes)
        {
            Check(name, contents.BytesContents.Count, count, "bytes_contents");
            return Tensor.FromByteStrings(name, shape, contents.BytesContents.Select(b => b.ToByteArray()).ToArray());
        }

        var tensor = Tensor.Allocate(name, type, shape);
        try
        {
            var d = tensor.Data.Span;
            switch (type)
            {
                case TensorDataType.Bool:
                    Check(name, contents.BoolContents.Count, count, "bool_contents");
                    for (var i = 0; i < count; i++)
                    {
                        d[i] = contents.BoolContents[i] ? (byte)1 : (byte)0;
                    }

                    break;
                case TensorDataType.Int8 or TensorDataType.Int16 or TensorDataType.Int32:
                    Check(name, contents.IntContents.Count, count, "int_contents");
                    WriteInts(name, type, count, contents.IntContents, d);
                    break;
                case TensorDataType.Int64:
                    Check(name, contents.Int64Contents.Count, count, "int64_contents");
                    contents.Int64Contents.ToArray().AsSpan().CopyTo(tensor.AsSpan<long>());
                    break;
                case TensorDataType.UInt8 or TensorDataType.UInt16 or TensorDataType.UInt32:
                    Check(name, contents.UintContents.Count, count, "uint_contents");
                    WriteUInts(name, type, count, contents.UintContents, d);
                    break;
                case TensorDataType.UInt64:
                    Check(name, contents.Uint64Contents.Count, count, "uint64_contents");
                    contents.Uint64Contents.ToArray().AsSpan().CopyTo(tensor.AsSpan<ulong>());
                    break;
                case TensorDataType.FP32:
                    Check(name, contents.Fp32Contents.Count, count, "fp32_contents");
                    contents.Fp32Contents.ToArray().AsSpan().CopyTo(tensor.AsSpan<float>());
                    break;
                case TensorDataType.FP64:
                    Check(name, contents.Fp64Contents.Count, count, "fp64_contents");
                    contents.Fp64Contents.ToArray().AsSpan().CopyTo(tensor.AsSpan<double>());
                    break;
                default:
                    throw InferenceErrors.Invalid($"input '{name}': {type.Name()} has no typed contents field; send it in raw_input_contents");
            }

            return tensor;
        }
        catch
        {
            tensor.Dispose();
            throw;
        }
    }

    // int_contents carries INT8, INT16 and INT32 alike: each value range-checked into its element size.
    private static void WriteInts(string name, TensorDataType type, long count, Google.Protobuf.Collections.RepeatedField<int> values, Span<byte> d)
    {
        for (var i = 0; i < count; i++)
        {
            var v = values[i];
            switch (type)
            {
                case TensorDataType.Int8:
                    d[i] = (byte)(sbyte)Range(name, i, v, sbyte.MinValue, sbyte.MaxValue);
                    break;
                case TensorDataType.Int16:
                    BinaryPrimitives.WriteInt16LittleEndian(d[(i * 2)..], (short)Range(name, i, v, short.MinValue, short.MaxValue));
                    break;
                default:
                    BinaryPrimitives.WriteInt32LittleEndian(d[(i * 4)..], v);
                    break;
            }
        }
    }

    // uint_contents carries UINT8, UINT16 and UINT32 alike.
    private static void WriteUInts(string name, TensorDataType type, long count, Google.Protobuf.Collections.RepeatedField<uint> values, Span<byte> d)
    {
        for (var i = 0; i < count; i++)
        {
            var v = values[i];
            switch (type)
            {
                case TensorDataType.UInt8:
                    d[i] = (byte)Range(name, i, v, 0, byte.MaxValue);
                    break;
                case TensorDataType.UInt16:
                    BinaryPrimitives.WriteUInt16LittleEndian(d[(i * 2)..], (ushort)Range(name, i, v, 0, ushort.MaxValue));
                    break;
                default:
                    BinaryPrimitives.WriteUInt32LittleEndian(d[(i * 4)..], v);
                    break;
            }
        }
    }

    private static void Check(string name, int given, long count, string field)
    {
        if (given != count)
        {
            throw InferenceErrors.Invalid($"input '{name}': {field} holds {given} values but the shape needs {count}");
        }
    }

    private static long Range(string name, int index, long value, long min, long max) =>
        value >= min && value <= max ? value : throw InferenceErrors.Invalid($"input '{name}': element {index} is {value}, out of range {min}..{max}");

    /// <summary>Converts protocol parameters into plain values.</summary>
    public static Dictionary<string, object>? Parameters(IDictionary<string, InferParameter> parameters)
    {
        if (parameters.Count == 0)
        {
            return null;
        }

        var result = new Dictionary<string, object>(StringComparer.Ordinal);
        foreach (var (key, p) in parameters)
        {
            object? value = p.ParameterChoiceCase switch
            {
                InferParameter.ParameterChoiceOneofCase.BoolParam => p.BoolParam,
                InferParameter.ParameterChoiceOneofCase.Int64Param => p.Int64Param,
                InferParameter.ParameterChoiceOneofCase.StringParam => p.StringParam,
                InferParameter.ParameterChoiceOneofCase.DoubleParam => p.DoubleParam,
                InferParameter.ParameterChoiceOneofCase.Uint64Param => p.Uint64Param,
                _ => null,
            };
            if (value is not null)
            {
                result[key] = value;
            }
        }

        return result;
    }

    /// <summary>The response message without its raw contents, which <see cref="WriteInferResponse"/> appends.</summary>
    public static ModelInferResponse ResponseHeader(InferenceResponse response, string modelName, IReadOnlyDictionary<string, SharedMemoryReference>? sharedMemoryOutputs = null)
    {
        var header = new ModelInferResponse
        {
            ModelName = modelName,
            ModelVersion = response.ModelVersion,
            Id = response.Id ?? "",
        };
        foreach (var o in response.Outputs)
        {
            var output = new ModelInferResponse.Types.InferOutputTensor { Name = o.Name, Datatype = o.DataType.Name() };
            output.Shape.Add(o.Shape);
            if (sharedMemoryOutputs?.TryGetValue(o.Name, out var shm) == true)
            {
                output.Parameters[SharedMemoryReference.RegionParameter] = new InferParameter { StringParam = shm.Region.Name };
                output.Parameters[SharedMemoryReference.ByteSizeParameter] = new InferParameter { Int64Param = o.Data.Length };
                if (shm.Offset != 0)
                {
                    output.Parameters[SharedMemoryReference.OffsetParameter] = new InferParameter { Int64Param = shm.Offset };
                }
            }

            header.Outputs.Add(output);
        }

        return header;
    }

    /// <summary>Bytes the raw_output_contents entries add to the message.</summary>
    public static long RawOutputsSize(InferenceResponse response, IReadOnlyDictionary<string, SharedMemoryReference>? sharedMemoryOutputs = null)
    {
        long size = 0;
        foreach (var o in response.Outputs)
        {
            var length = RawLength(o, sharedMemoryOutputs);
            size += 1 + GrpcFraming.VarintSize((ulong)length) + length;
        }

        return size;
    }

    // An output in shared memory keeps its place in raw_output_contents (entries go by output position) with no bytes.
    private static int RawLength(Tensor output, IReadOnlyDictionary<string, SharedMemoryReference>? sharedMemoryOutputs) =>
        sharedMemoryOutputs?.ContainsKey(output.Name) == true ? 0 : output.Data.Length;

    /// <summary>
    /// Writes a ModelInferResponse (or, nested under <paramref name="streamField"/>, a ModelStreamInferResponse):
    /// the protobuf header (naming the model as the caller does, <paramref name="modelName"/>), then each output's bytes straight from its buffer as raw_output_contents. Messages
    /// of at least <paramref name="compressFrom"/> bytes are compressed with <paramref name="encoding"/> (unless identity).
    /// </summary>
    public static async ValueTask WriteInferResponseAsync(
        System.IO.Pipelines.PipeWriter writer, InferenceResponse response, string modelName, int? streamField, CancellationToken cancellationToken,
        GrpcEncoding encoding = GrpcEncoding.Identity, long compressFrom = 0,
        IReadOnlyDictionary<string, SharedMemoryReference>? sharedMemoryOutputs = null)
    {
        var header = ResponseHeader(response, modelName, sharedMemoryOutputs);
        long inner = header.CalculateSize() + RawOutputsSize(response, sharedMemoryOutputs);
        var total = streamField is null ? inner : 1 + GrpcFraming.VarintSize((ulong)inner) + inner;
        if (encoding != GrpcEncoding.Identity && total >= compressFrom)
        {
            // Compression needs the whole message first: serialise it, then send the compressed bytes.
            var plain = new ArrayBufferWriter<byte>((int)Math.Min(total, int.MaxValue));
            WriteInferBody(plain, header, response, streamField, inner, sharedMemoryOutputs);
            var packed = GrpcCompression.Compress(plain.WrittenSpan, encoding);
            await SendCompressedAsync(writer, packed, cancellationToken);
            return;
        }

        GrpcFraming.WritePrefix(writer, total);
        WriteInferHead(writer, header, streamField, inner);
        foreach (var o in response.Outputs)
        {
            WriteOutputPrefix(writer, RawLength(o, sharedMemoryOutputs));
            if (RawLength(o, sharedMemoryOutputs) == 0)
            {
                continue;
            }

            if (o.Data.Length > 64 * 1024)
            {
                await writer.WriteAsync(o.Data, cancellationToken);
            }
            else
            {
                o.Data.Span.CopyTo(writer.GetSpan(o.Data.Length));
                writer.Advance(o.Data.Length);
            }
        }

        await writer.FlushAsync(cancellationToken);
    }

    /// <summary>Writes one whole message with its gRPC prefix, compressed when asked and at least <paramref name="compressFrom"/> bytes.</summary>
    public static async ValueTask WriteAsync(
        System.IO.Pipelines.PipeWriter writer, IMessage message, CancellationToken cancellationToken, GrpcEncoding encoding = GrpcEncoding.Identity, long compressFrom = 0)
    {
        var size = message.CalculateSize();
        if (encoding != GrpcEncoding.Identity && size >= compressFrom)
        {
            await SendCompressedAsync(writer, GrpcCompression.Compress(message.ToByteArray(), encoding), cancellationToken);
            return;
        }

        GrpcFraming.WritePrefix(writer, size);
        WriteMessage(writer, message);
        await writer.FlushAsync(cancellationToken);
    }

    private static void WriteInferBody(
        IBufferWriter<byte> writer, ModelInferResponse header, InferenceResponse response, int? streamField, long inner,
        IReadOnlyDictionary<string, SharedMemoryReference>? sharedMemoryOutputs)
    {
        WriteInferHead(writer, header, streamField, inner);
        foreach (var o in response.Outputs)
        {
            var length = RawLength(o, sharedMemoryOutputs);
            WriteOutputPrefix(writer, length);
            o.Data.Span[..length].CopyTo(writer.GetSpan(length));
            writer.Advance(length);
        }
    }

    // The stream response's field tag and length (ModelStreamInfer), then the response without its raw outputs.
    private static void WriteInferHead(IBufferWriter<byte> writer, ModelInferResponse header, int? streamField, long inner)
    {
        if (streamField is { } field)
        {
            WriteTag(writer, field);
            GrpcFraming.WriteVarint(writer, (ulong)inner);
        }

        WriteMessage(writer, header);
    }

    private static void WriteOutputPrefix(IBufferWriter<byte> writer, int length)
    {
        WriteTag(writer, RawOutputContentsField);
        GrpcFraming.WriteVarint(writer, (ulong)length);
    }

    private static async ValueTask SendCompressedAsync(System.IO.Pipelines.PipeWriter writer, MemoryStream compressed, CancellationToken cancellationToken)
    {
        using var packed = compressed;
        GrpcFraming.WritePrefix(writer, packed.Length, compressed: true);
        await writer.WriteAsync(packed.GetBuffer().AsMemory(0, (int)packed.Length), cancellationToken);
    }

    private static void WriteMessage(IBufferWriter<byte> writer, IMessage message)
    {
        var size = message.CalculateSize();
        if (size > 0)
        {
            message.WriteTo(writer.GetSpan(size)[..size]);
            writer.Advance(size);
        }
    }

    private static void WriteTag(IBufferWriter<byte> writer, int field) => GrpcFraming.WriteVarint(writer, (ulong)((field << 3) | 2));
}
