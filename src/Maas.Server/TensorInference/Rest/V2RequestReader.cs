using System.Globalization;
using System.Text.Json;
using Maas.Core.TensorServing;
using Maas.Server.Auth;
using Maas.Server.Errors;
using Maas.Server.TensorInference.SharedMemory;
using Microsoft.AspNetCore.Http.Features;

namespace Maas.Server.TensorInference.Rest;

/// <summary>
/// Reads a v2 infer request body: JSON tensors, or a JSON header followed by binary tensors (Triton's binary data
/// extension), each binary tensor read straight from the body into its own pooled buffer.
/// </summary>
internal static class V2RequestReader
{
    /// <summary>The header that gives the JSON part's length when binary tensors follow it.</summary>
    public const string HeaderLengthHeader = "Inference-Header-Content-Length";

    /// <summary>Reads and checks the request; throws <see cref="InferenceException"/> (invalid input) with the reason.</summary>
    public static async Task<V2InferCall> ReadAsync(
        HttpRequest http, InferenceOptions options, SystemSharedMemoryRegistry? sharedMemory, CancellationToken cancellationToken)
    {
        var limit = options.MaxRequestBodyBytes;
        if (http.ContentLength > limit)
        {
            throw TooLarge(http.ContentLength.Value, limit);
        }

        if (http.HttpContext.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } sizeFeature)
        {
            // We count ourselves and answer 400; Kestrel's own limit stays just above ours as a backstop.
            sizeFeature.MaxRequestBodySize = limit + 1;
        }

        try
        {
            return await ReadEncodedBodyAsync(http, new ReadContext(options, sharedMemory, http.HttpContext.CallerTenant()), cancellationToken);
        }
        catch (BadHttpRequestException ex) when (ex.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            // Kestrel's backstop stopped a body without a length (chunked): the limit it names is ours, not limit + 1.
            throw InferenceErrors.Invalid($"the request body is over the limit of {limit} bytes (Maas:Inference:MaxRequestBodyBytes)");
        }
    }

    // What reading a request needs besides its bytes: the limits, and the regions its tenant registered.
    private sealed record ReadContext(InferenceOptions Options, SystemSharedMemoryRegistry? SharedMemory, string Tenant);

    private static async Task<V2InferCall> ReadEncodedBodyAsync(HttpRequest http, ReadContext context, CancellationToken cancellationToken)
    {
        var encoding = http.Headers.ContentEncoding.ToString().Trim();
        if (encoding.Length == 0 || encoding.Equals("identity", StringComparison.OrdinalIgnoreCase))
        {
            return await ReadBodyAsync(http, http.Body, http.ContentLength, context, cancellationToken);
        }

        // Triton's HTTP clients compress requests with gzip or deflate (request_compression_algorithm). The binary
        // header's length and every limit then count decoded bytes, so the body's own length says nothing.
        await using var decoded = encoding.ToLowerInvariant() switch
        {
            "gzip" or "x-gzip" => new System.IO.Compression.GZipStream(http.Body, System.IO.Compression.CompressionMode.Decompress, leaveOpen: true),
            "deflate" => (Stream)new System.IO.Compression.ZLibStream(http.Body, System.IO.Compression.CompressionMode.Decompress, leaveOpen: true),
            _ => throw InferenceErrors.Invalid($"Content-Encoding '{encoding}' is not supported; send the body as is, gzip or deflate"),
        };
        try
        {
            return await ReadBodyAsync(http, decoded, null, context, cancellationToken);
        }
        catch (InvalidDataException ex)
        {
            throw InferenceErrors.Invalid($"the request body is not valid {encoding} data: {ex.Message}");
        }
    }

    private static async Task<V2InferCall> ReadBodyAsync(HttpRequest http, Stream body, long? contentLength, ReadContext context, CancellationToken cancellationToken)
    {
        var limit = context.Options.MaxRequestBodyBytes;
        long? headerLength = null;
        if (http.Headers.TryGetValue(HeaderLengthHeader, out var headerValue))
        {
            if (!long.TryParse(headerValue.ToString(), NumberStyles.None, CultureInfo.InvariantCulture, out var h) || h <= 0)
            {
                throw InferenceErrors.Invalid($"{HeaderLengthHeader} must be a positive integer, not '{headerValue}'");
            }

            if (contentLength is { } total && h > total)
            {
                throw InferenceErrors.Invalid($"{HeaderLengthHeader} is {h} but the whole body is only {total} bytes");
            }

            if (h > limit)
            {
                throw TooLarge(h, limit);
            }

            headerLength = h;
        }

        var (jsonBuffer, jsonLength) = headerLength is { } length
            ? (await ReadExactlyAsync(body, length, cancellationToken, what: $"the JSON header ({HeaderLengthHeader}: {length})"), (int)length)
            : await ReadToEndAsync(body, limit, cancellationToken);
        using var json = jsonBuffer;

        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(json.Memory[..jsonLength], new JsonDocumentOptions { MaxDepth = 64, AllowDuplicateProperties = false });
        }
        catch (JsonException ex)
        {
            throw InferenceErrors.Invalid(JsonBodyErrors.Describe("malformed JSON in the request body", ex));
        }
        catch (InvalidOperationException ex)
        {
            throw TensorJson.UnreadableText(ex); // the duplicate-key check reads every key, and a lone surrogate is no text
        }

        using (document)
        {
            var tensors = new List<Tensor>();
            try
            {
                V2InferCall call;
                List<BinaryInput> binaryInputs;
                try
                {
                    call = Parse(document.RootElement, context, tensors, out binaryInputs);
                }
                catch (InvalidOperationException ex)
                {
                    throw TensorJson.UnreadableText(ex);
                }

                ReadSharedMemoryInputs(binaryInputs, tensors, limit);
                await ReadBinaryInputsAsync(body, [.. binaryInputs.Where(b => b.SharedMemory is null)], tensors, jsonLength, headerLength, contentLength, limit, cancellationToken);
                return call;
            }
            catch
            {
                foreach (var t in tensors)
                {
                    t?.Dispose();
                }

                throw;
            }
        }
    }

    // The binary part: each input's bytes straight into its own pooled buffer, after checking that the sizes the
    // JSON declares add up to what the body carries.
    private static async Task ReadBinaryInputsAsync(
        Stream body, List<BinaryInput> binaryInputs, List<Tensor> tensors, long jsonLength, long? headerLength, long? contentLength, long limit,
        CancellationToken cancellationToken)
    {
        long declared = binaryInputs.Sum(b => b.Size);
        if (headerLength is null && binaryInputs.Count > 0)
        {
            throw InferenceErrors.Invalid(
                $"input '{binaryInputs[0].Name}' has binary_data_size but the request has no {HeaderLengthHeader} header saying where the JSON ends");
        }

        if (headerLength is { } h && contentLength is { } total && total - h != declared)
        {
            throw InferenceErrors.Invalid(
                $"the body carries {total - h} bytes after the JSON header but the inputs' binary_data_size values add up to {declared} bytes"
                + (binaryInputs.Count > 0 ? $" ({string.Join(", ", binaryInputs.Select(b => $"'{b.Name}': {b.Size}"))})" : ""));
        }

        long read = jsonLength;
        foreach (var b in binaryInputs)
        {
            read += b.Size;
            if (read > limit)
            {
                throw TooLarge(read, limit); // before renting a buffer a caller asked for
            }

            var buffer = await ReadExactlyAsync(body, b.Size, cancellationToken,
                what: $"binary data of input '{b.Name}' (binary_data_size {b.Size})");

            try
            {
                tensors[b.Index] = Tensor.Wrap(b.Name, b.Type, b.Shape, buffer.Memory, buffer);
            }
            catch
            {
                buffer.Dispose();
                throw;
            }
        }

        if (headerLength is not null && contentLength is null && await HasMoreAsync(body, cancellationToken))
        {
            throw InferenceErrors.Invalid($"the body carries more bytes after the binary tensors than their binary_data_size values ({declared} bytes) declare");
        }
    }

    // An input whose bytes are not in the JSON: in the binary part of the body, or in a shared-memory region.
    private sealed record BinaryInput(int Index, string Name, TensorDataType Type, long[] Shape, long Size, SharedMemoryReference? SharedMemory = null);

    // Inputs in shared memory: copied out of their regions (SharedMemoryReference.ReadInput).
    private static void ReadSharedMemoryInputs(List<BinaryInput> inputs, List<Tensor> tensors, long limit)
    {
        long total = 0;
        foreach (var b in inputs)
        {
            if (b.SharedMemory is { } shm)
            {
                total += b.Size;
                tensors[b.Index] = shm.ReadInput(b.Name, b.Type, b.Shape, total, limit);
            }
        }
    }

    private static V2InferCall Parse(JsonElement root, ReadContext context, List<Tensor> tensors, out List<BinaryInput> binaryInputs)
    {
        binaryInputs = [];
        if (root.ValueKind != JsonValueKind.Object)
        {
            throw InferenceErrors.Invalid($"the request body must be a JSON object, not {TensorJson.Kind(root)}");
        }

        var (id, parameters) = ReadRequestFields(root);
        if (!root.TryGetProperty("inputs", out var inputs) || inputs.ValueKind != JsonValueKind.Array)
        {
            throw InferenceErrors.Invalid("the request needs an \"inputs\" array");
        }

        var index = 0;
        foreach (var input in inputs.EnumerateArray())
        {
            tensors.Add(null!); // filled here or after the binary part is read
            if (ReadInput(input, index, context, out var tensor) is { } binary)
            {
                binaryInputs.Add(binary);
            }
            else
            {
                tensors[index] = tensor!;
            }

            index++;
        }

        var (requested, binaryOutputs, classifications, sharedMemoryOutputs) = ReadOutputs(root, context);
        var call = new V2InferCall
        {
            Request = new InferenceRequest
            {
                Id = id,
                Inputs = tensors,
                Parameters = parameters,
                RequestedOutputs = requested is { Count: > 0 } ? requested : null,
                RankedOutputs = classifications.Count > 0 ? [.. classifications.Keys] : null,
                Timeout = InferenceTimeouts.FromParameters(parameters),
            },
            BinaryByDefault = parameters?.TryGetValue("binary_data_output", out var bdo) == true && bdo is true,
            SharedMemoryOutputs = sharedMemoryOutputs,
        };
        foreach (var (k, v) in binaryOutputs)
        {
            call.BinaryOutputs[k] = v;
        }

        foreach (var (k, v) in classifications)
        {
            call.Classifications[k] = v;
        }

        return call;
    }

    // The "outputs" array: the names asked for (null: all), which are binary, which are classified (top-k) and which
    // go to shared memory.
    private static (
        List<string>? Requested,
        Dictionary<string, bool> BinaryOutputs,
        Dictionary<string, int> Classifications,
        IReadOnlyDictionary<string, SharedMemoryReference> SharedMemoryOutputs) ReadOutputs(JsonElement root, ReadContext context)
    {
        List<string>? requested = null;
        var binaryOutputs = new Dictionary<string, bool>(StringComparer.Ordinal);
        var classifications = new Dictionary<string, int>(StringComparer.Ordinal);
        Dictionary<string, SharedMemoryReference>? sharedMemoryOutputs = null; // only for calls that use the extension
        if (root.TryGetProperty("outputs", out var outputs))
        {
            if (outputs.ValueKind != JsonValueKind.Array)
            {
                throw InferenceErrors.Invalid($"\"outputs\" must be an array, not {TensorJson.Kind(outputs)}");
            }

            requested = [];
            foreach (var output in outputs.EnumerateArray())
            {
                if (output.ValueKind != JsonValueKind.Object || !output.TryGetProperty("name", out var n) || n.ValueKind != JsonValueKind.String)
                {
                    throw InferenceErrors.Invalid($"requested output {requested.Count} needs a \"name\" string");
                }

                var name = n.GetString()!;
                requested.Add(name);
                var outputParameters = output.TryGetProperty("parameters", out var op) ? ReadParameters(op, $"output '{name}'") : null;
                if (outputParameters?.TryGetValue(OutputClassification.Parameter, out var classes) == true)
                {
                    classifications[name] = OutputClassification.ReadCount(name, classes, op.GetProperty(OutputClassification.Parameter).GetRawText());
                }

                if (SharedMemoryReference.Read(outputParameters, $"output '{name}'", context.SharedMemory, context.Tenant) is { } shm)
                {
                    (sharedMemoryOutputs ??= new(StringComparer.Ordinal))[name] = shm;
                }

                if (outputParameters?.TryGetValue("binary_data", out var binary) == true)
                {
                    binaryOutputs[name] = binary as bool? ?? throw InferenceErrors.Invalid(
                        $"output '{name}': parameter \"binary_data\" must be true or false, not {op.GetProperty("binary_data").GetRawText()}");
                }
            }
        }

        return (requested, binaryOutputs, classifications, sharedMemoryOutputs ?? SharedMemoryReference.None);
    }

    // The request's id and parameters; the parameters the server acts on must have their type.
    private static (string? Id, Dictionary<string, object>? Parameters) ReadRequestFields(JsonElement root)
    {
        string? id = null;
        if (root.TryGetProperty("id", out var idElement))
        {
            id = idElement.ValueKind == JsonValueKind.String
                ? idElement.GetString()
                : throw InferenceErrors.Invalid($"\"id\" must be a string, not {TensorJson.Kind(idElement)}");
        }

        var parameters = root.TryGetProperty("parameters", out var p) ? ReadParameters(p, "request") : null;
        // The parameters the server acts on must have their type (as Triton requires): one of another type was
        // silently ignored, and the caller went on believing its timeout or binary outputs applied.
        if (parameters?.TryGetValue("timeout", out var timeout) == true && timeout is not (long and >= 0 or ulong))
        {
            throw InferenceErrors.Invalid($"the request parameter \"timeout\" must be a non-negative integer (microseconds), not {p.GetProperty("timeout").GetRawText()}");
        }

        if (parameters?.TryGetValue("binary_data_output", out var binaryOutput) == true && binaryOutput is not bool)
        {
            throw InferenceErrors.Invalid($"the request parameter \"binary_data_output\" must be true or false, not {p.GetProperty("binary_data_output").GetRawText()}");
        }

        return (id, parameters);
    }

    // One input: its tensor from "data", or (returned) where its bytes lie in the binary part of the body.
    private static BinaryInput? ReadInput(JsonElement input, int index, ReadContext context, out Tensor? tensor)
    {
        tensor = null;
        var options = context.Options;
        var (name, type, shape, count) = ReadTensorHeader(input, index, options);
        var inputParameters = input.TryGetProperty("parameters", out var ip) ? ReadParameters(ip, $"input '{name}'") : null;
        var hasData = input.TryGetProperty("data", out var data);
        if (SharedMemoryReference.Read(inputParameters, $"input '{name}'", context.SharedMemory, context.Tenant) is { } shm)
        {
            return InSharedMemory(index, name, type, shape, count, shm, hasData || inputParameters!.ContainsKey("binary_data_size"));
        }

        if (inputParameters is null || !inputParameters.TryGetValue("binary_data_size", out var sizeValue))
        {
            tensor = hasData
                ? TensorJson.Read(name, type, shape, count, data)
                : throw InferenceErrors.Invalid($"input '{name}' has no \"data\" (and no binary_data_size parameter)");
            return null;
        }

        if (hasData)
        {
            throw InferenceErrors.Invalid($"input '{name}' has both \"data\" and binary_data_size; give one");
        }

        if (sizeValue is not long size || size < 0)
        {
            // As sent: 16.0 and "16" would both read as 16.
            throw InferenceErrors.Invalid($"input '{name}': binary_data_size must be a non-negative integer, not {ip.GetProperty("binary_data_size").GetRawText()}");
        }

        if (size > options.MaxRequestBodyBytes)
        {
            // Refused here, so the sizes' sum cannot overflow either.
            throw InferenceErrors.Invalid(
                $"input '{name}': binary_data_size is {size} bytes, over the limit of {options.MaxRequestBodyBytes} bytes for the whole body (Maas:Inference:MaxRequestBodyBytes)");
        }

        if (type != TensorDataType.Bytes && size != count * type.ElementSize())
        {
            throw InferenceErrors.Invalid(
                $"input '{name}': binary_data_size is {size} bytes but {type.Name()} shape {TensorShape.Format(shape)} needs {count * type.ElementSize()} bytes ({count} " +
                $"elements of {type.ElementSize()})");
        }

        return new BinaryInput(index, name, type, shape, size);
    }

    private static BinaryInput InSharedMemory(int index, string name, TensorDataType type, long[] shape, long count, SharedMemoryReference shm, bool hasOtherData)
    {
        if (hasOtherData)
        {
            throw InferenceErrors.Invalid($"input '{name}' is in shared memory region '{shm.Region.Name}' and has \"data\" or binary_data_size too; give one");
        }

        shm.CheckInputSize(name, type, shape, count);
        return new BinaryInput(index, name, type, shape, shm.ByteSize, shm);
    }

    /// <summary>Reads name, datatype and shape of an input object, checking the element limit.</summary>
    public static (string Name, TensorDataType Type, long[] Shape, long Count) ReadTensorHeader(JsonElement input, int index, InferenceOptions options)
    {
        if (input.ValueKind != JsonValueKind.Object)
        {
            throw InferenceErrors.Invalid($"input {index} must be an object with name, shape, datatype and data");
        }

        if (!input.TryGetProperty("name", out var n) || n.ValueKind != JsonValueKind.String || n.GetString() is not { Length: > 0 } name)
        {
            throw InferenceErrors.Invalid($"input {index} needs a \"name\" string");
        }

        if (!input.TryGetProperty("datatype", out var dt) || dt.ValueKind != JsonValueKind.String)
        {
            throw InferenceErrors.Invalid($"input '{name}' needs a \"datatype\" string (one of {TensorDataTypes.NameList})");
        }

        if (!TensorDataTypes.TryParse(dt.GetString(), out var type))
        {
            throw InferenceErrors.Invalid($"input '{name}': datatype '{dt.GetString()}' is not one of {TensorDataTypes.NameList}");
        }

        if (!input.TryGetProperty("shape", out var s) || s.ValueKind != JsonValueKind.Array)
        {
            throw InferenceErrors.Invalid($"input '{name}' needs a \"shape\" array of non-negative integers");
        }

        var shape = new long[s.GetArrayLength()];
        var i = 0;
        foreach (var d in s.EnumerateArray())
        {
            if (d.ValueKind != JsonValueKind.Number || !d.TryGetInt64(out var dim) || dim < 0)
            {
                throw InferenceErrors.Invalid($"input '{name}': shape must hold non-negative integers, but dimension {i} is {d.GetRawText()}");
            }

            shape[i++] = dim;
        }

        var count = TensorShape.ElementCount(name, shape);
        if (count > options.MaxTensorElements)
        {
            throw InferenceErrors.Invalid(
                $"input '{name}' has {count} elements (shape {TensorShape.Format(shape)}), over the limit of {options.MaxTensorElements} elements per tensor " +
                $"(Maas:Inference:MaxTensorElements)");
        }

        return (name, type, shape, count);
    }

    /// <summary>Reads a v2 parameters object: bool, integer, float and string values.</summary>
    public static Dictionary<string, object>? ReadParameters(JsonElement element, string owner)
    {
        if (element.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        if (element.ValueKind != JsonValueKind.Object)
        {
            throw InferenceErrors.Invalid($"\"parameters\" of the {owner} must be an object, not {TensorJson.Kind(element)}");
        }

        var result = new Dictionary<string, object>(StringComparer.Ordinal);
        foreach (var property in element.EnumerateObject())
        {
            var v = property.Value;
            result[property.Name] = v.ValueKind switch
            {
                JsonValueKind.True => true,
                JsonValueKind.False => false,
                JsonValueKind.String => v.GetString()!,
                JsonValueKind.Number when v.TryGetInt64(out var l) => l,
                JsonValueKind.Number when v.TryGetUInt64(out var u) => u,
                JsonValueKind.Number => v.GetDouble(),
                _ => v.GetRawText(),
            };
        }

        return result;
    }

    private static InferenceException TooLarge(long size, long limit) =>
        InferenceErrors.Invalid($"the request body is {size} bytes, over the limit of {limit} bytes (Maas:Inference:MaxRequestBodyBytes)");

    private static async Task<PooledBuffer> ReadExactlyAsync(Stream body, long length, CancellationToken cancellationToken, string what)
    {
        var buffer = PooledBuffer.Rent(length);
        try
        {
            var read = await body.ReadAtLeastAsync(buffer.Memory, buffer.Length, throwOnEndOfStream: false, cancellationToken);
            if (read < length)
            {
                throw InferenceErrors.Invalid($"the body ended after {read} bytes of {what}");
            }

            return buffer;
        }
        catch
        {
            buffer.Dispose();
            throw;
        }
    }

    private static async Task<(PooledBuffer Buffer, int Length)> ReadToEndAsync(Stream body, long limit, CancellationToken cancellationToken)
    {
        var buffer = PooledBuffer.Rent(16 * 1024);
        var length = 0;
        try
        {
            while (true)
            {
                if (length == buffer.Length)
                {
                    var bigger = PooledBuffer.Rent(Math.Min((long)buffer.Length * 2, limit + 1));
                    buffer.Memory.CopyTo(bigger.Memory);
                    buffer.Dispose();
                    buffer = bigger;
                }

                var n = await body.ReadAsync(buffer.Memory[length..], cancellationToken);
                if (n == 0)
                {
                    return (buffer, length);
                }

                length += n;
                if (length > limit)
                {
                    throw TooLarge(length, limit);
                }
            }
        }
        catch
        {
            buffer.Dispose();
            throw;
        }
    }

    private static async Task<bool> HasMoreAsync(Stream body, CancellationToken cancellationToken)
    {
        var one = new byte[1];
        return await body.ReadAsync(one, cancellationToken) > 0;
    }
}
