using System.Buffers;
using System.Text.Json;
using Maas.Core.Registry;
using Maas.Core.TensorServing;
using Maas.Server.Auth;

namespace Maas.Server.TensorInference.Rest;

/// <summary>Writes v2 infer responses: JSON tensors, or a JSON header followed by the binary outputs.</summary>
internal static class V2ResponseWriter
{
    // Responses up to this size are written without flushing; Kestrel sends them when the request ends.
    private const long InlineResponseBytes = 64 * 1024;

    [ThreadStatic]
    private static ArrayBufferWriter<byte>? t_buffer;

    /// <summary>Writes the response; outputs the caller asked for as binary go after the JSON, straight from their buffers.</summary>
    public static async Task WriteAsync(HttpResponse http, InferenceResponse response, V2InferCall call, CancellationToken cancellationToken)
    {
        SharedMemory.SharedMemoryReference.WriteOutputs(response, call.SharedMemoryOutputs);
        var buffer = t_buffer ??= new ArrayBufferWriter<byte>(4096);
        t_buffer = null; // not shared while this response is written
        buffer.ResetWrittenCount();
        try
        {
            var binaryBytes = WriteJsonPart(buffer, http, response, call);
            var anyBinary = binaryBytes >= 0;
            http.StatusCode = StatusCodes.Status200OK;
            if (anyBinary)
            {
                http.ContentType = "application/octet-stream";
                http.Headers[V2RequestReader.HeaderLengthHeader] = buffer.WrittenCount.ToString(System.Globalization.CultureInfo.InvariantCulture);
            }
            else
            {
                http.ContentType = "application/json";
            }

            var total = buffer.WrittenCount + Math.Max(binaryBytes, 0);
            http.ContentLength = total;
            if (total <= InlineResponseBytes)
            {
                WriteWhole(http.BodyWriter, buffer, response, call, anyBinary);
                return;
            }

            await SendInPartsAsync(http.BodyWriter, buffer, response, call, anyBinary, cancellationToken);
        }
        finally
        {
            if (buffer.Capacity <= 1 << 20)
            {
                t_buffer = buffer; // keep modest buffers for the next response on this thread
            }
        }
    }

    /// <summary>
    /// Writes the JSON document (the whole response, or the header before binary outputs); returns the bytes of the
    /// binary outputs that follow it, or -1 when every output is in the JSON.
    /// </summary>
    private static long WriteJsonPart(ArrayBufferWriter<byte> buffer, HttpResponse http, InferenceResponse response, V2InferCall call)
    {
        long binaryBytes = -1;
        using var writer = new Utf8JsonWriter(buffer, new JsonWriterOptions { SkipValidation = true, Encoder = V2Endpoints.JsonEncoder });
        writer.WriteStartObject();
        // Named as the caller names it: its own models by their short names.
        writer.WriteString("model_name", ModelKeys.RelativeTo(response.ModelName, http.HttpContext.CallerTenant()));
        writer.WriteString("model_version", response.ModelVersion);
        if (response.Id is { Length: > 0 } id)
        {
            writer.WriteString("id", id);
        }

        if (response.Parameters is { Count: > 0 } parameters)
        {
            writer.WritePropertyName("parameters");
            WriteParameters(writer, parameters);
        }

        writer.WriteStartArray("outputs");
        foreach (var output in response.Outputs)
        {
            if (call.SharedMemoryOutputs.TryGetValue(output.Name, out var shm))
            {
                WriteSharedMemoryOutput(writer, output, shm);
            }
            else if (WriteOutput(writer, output, call.IsBinary(output.Name)))
            {
                binaryBytes = Math.Max(binaryBytes, 0) + output.Data.Length;
            }
        }

        writer.WriteEndArray();
        writer.WriteEndObject();
        return binaryBytes;
    }

    /// <summary>An output that went into shared memory: its shape, and where its bytes are, with no data.</summary>
    private static void WriteSharedMemoryOutput(Utf8JsonWriter writer, Tensor output, SharedMemory.SharedMemoryReference shm)
    {
        TensorJson.WriteStart(writer, output.Name, output.DataType, output.Shape);
        writer.WriteStartObject("parameters");
        writer.WriteString(SharedMemory.SharedMemoryReference.RegionParameter, shm.Region.Name);
        writer.WriteNumber(SharedMemory.SharedMemoryReference.ByteSizeParameter, output.Data.Length);
        if (shm.Offset != 0)
        {
            writer.WriteNumber(SharedMemory.SharedMemoryReference.OffsetParameter, shm.Offset);
        }

        writer.WriteEndObject();
        writer.WriteEndObject();
    }

    /// <summary>Writes one output's object: its data inline, or its binary size when it follows the JSON (returns true).</summary>
    private static bool WriteOutput(Utf8JsonWriter writer, Tensor output, bool binary)
    {
        TensorJson.WriteStart(writer, output.Name, output.DataType, output.Shape);
        if (binary)
        {
            writer.WriteStartObject("parameters");
            writer.WriteNumber("binary_data_size", output.Data.Length);
            writer.WriteEndObject();
        }
        else
        {
            writer.WritePropertyName("data");
            TensorJson.WriteFlat(writer, output);
        }

        writer.WriteEndObject();
        return binary;
    }

    /// <summary>
    /// Small responses go into Kestrel's pipe whole and leave in one send when the request ends: no flush per part
    /// (each would be its own syscall and TCP segment).
    /// </summary>
    private static void WriteWhole(System.IO.Pipelines.PipeWriter body, ArrayBufferWriter<byte> json, InferenceResponse response, V2InferCall call, bool anyBinary)
    {
        body.Write(json.WrittenSpan);
        if (!anyBinary)
        {
            return;
        }

        foreach (var output in response.Outputs)
        {
            if (call.IsBinary(output.Name) && !call.SharedMemoryOutputs.ContainsKey(output.Name))
            {
                body.Write(output.Data.Span);
            }
        }
    }

    /// <summary>Large responses are flushed part by part, so the pipe applies backpressure instead of buffering a copy.</summary>
    private static async Task SendInPartsAsync(
        System.IO.Pipelines.PipeWriter body, ArrayBufferWriter<byte> json, InferenceResponse response, V2InferCall call, bool anyBinary, CancellationToken cancellationToken)
    {
        await body.WriteAsync(json.WrittenMemory, cancellationToken);
        if (!anyBinary)
        {
            return;
        }

        foreach (var output in response.Outputs)
        {
            if (call.IsBinary(output.Name) && !call.SharedMemoryOutputs.ContainsKey(output.Name))
            {
                await body.WriteAsync(output.Data, cancellationToken);
            }
        }
    }

    /// <summary>Writes a parameters object.</summary>
    public static void WriteParameters(Utf8JsonWriter writer, IReadOnlyDictionary<string, object> parameters)
    {
        writer.WriteStartObject();
        foreach (var (key, value) in parameters)
        {
            switch (value)
            {
                case bool b:
                    writer.WriteBoolean(key, b);
                    break;
                case long l:
                    writer.WriteNumber(key, l);
                    break;
                case ulong u:
                    writer.WriteNumber(key, u);
                    break;
                case double d:
                    writer.WriteNumber(key, d);
                    break;
                default:
                    writer.WriteString(key, value.ToString());
                    break;
            }
        }

        writer.WriteEndObject();
    }
}
