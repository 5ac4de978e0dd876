using System.Text.Json;
using Maas.Core.Datasets;
using Maas.Core.Registry;
using Maas.Core.Tenancy;
using Maas.Core.TensorServing;
using Maas.Server.Auth;
using Maas.Server.Errors;
using Maas.Server.Payloads;
using Microsoft.Extensions.Options;

namespace Maas.Server.TensorInference.Rest;

/// <summary>
/// The simple JSON endpoint for callers who do not want tensors: {"inputs": {"name": nested arrays}} in,
/// {"outputs": {"name": nested arrays}} out, with shapes inferred from the nesting and datatypes from the model.
/// </summary>
internal static class PredictEndpoint
{
    /// <summary>Maps POST /api/v1/models/{model}/predict and the per-version form.</summary>
    public static void Map(IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/api/v1/models").WithTags("inference").RequireScope(MaasScopes.Infer);
        group.MapPost("/{model}/predict", (HttpContext ctx, ModelManager m, IModelRegistry r, InferenceCallServices call, IOptions<InferenceOptions> o, IOptions<DatasetOptions> d,
            string model) => PredictAsync(ctx, m, r, call, o.Value, d.Value, model, null));
        group.MapPost("/{model}/versions/{version}/predict", (HttpContext ctx, ModelManager m, IModelRegistry r, InferenceCallServices call, IOptions<InferenceOptions> o,
            IOptions<DatasetOptions> d, string model, string version) => PredictAsync(ctx, m, r, call, o.Value, d.Value, model, version));
    }

    // datasets: the limits a table body is read under, as a dataset upload is.
    private static Task PredictAsync(HttpContext ctx, ModelManager manager, IModelRegistry registry, InferenceCallServices call, InferenceOptions options, DatasetOptions datasets,
        string model, string? version) =>
        V2Endpoints.Guard(ctx, () => PredictCoreAsync(ctx, manager, registry, call, options, datasets, model, version), WriteErrorAsync);

    // The management API's error shape, since this route lives under /api/v1: {"error": {"code", "message"}}.
    private static Task WriteErrorAsync(HttpContext ctx, InferenceException ex)
    {
        if (ctx.Response.HasStarted)
        {
            ctx.Abort();
            return Task.CompletedTask;
        }

        Deployments.DeploymentRouter.ClearForError(ctx);
        if (ex.RetryAfter is { } retry)
        {
            ctx.Response.Headers.RetryAfter = Math.Max(1, (int)Math.Ceiling(retry.TotalSeconds)).ToString(System.Globalization.CultureInfo.InvariantCulture);
        }

        var code = ex.InnerException is Maas.Core.Registry.RegistryException registry ? registry.Code : ex.Kind switch
        {
            InferenceErrorKind.InvalidInput => "invalid_input",
            InferenceErrorKind.NotFound => "model_not_found",
            InferenceErrorKind.QueueFull when ex.LimitName == "memory_quota_bytes" => "memory_quota_exceeded",
            InferenceErrorKind.QueueFull => "queue_full",
            InferenceErrorKind.Unavailable when ex.LimitName == "load_wait_ms" => "model_load_timeout",
            InferenceErrorKind.Unavailable => "model_unavailable",
            InferenceErrorKind.Timeout => "timeout",
            _ => "internal_error",
        };
        var details = ex.Limit is { } limit ? new Dictionary<string, object?> { ["limit"] = limit } : null;
        return Maas.Server.Errors.ApiErrors.WriteAsync(ctx, InferenceErrors.HttpStatus(ex.Kind), code, ex.Message, details);
    }

    private static async Task PredictCoreAsync(HttpContext ctx, ModelManager manager, IModelRegistry registry, InferenceCallServices call, InferenceOptions options,
        DatasetOptions datasets, string model, string? version)
    {
        // A call without a version follows the model's deployment, if it has one.
        var route = version is null ? call.Router.Route(ctx, model) : null;
        version ??= route?.VersionText;
        if (TableFormat(ctx.Request.ContentType) is { } format)
        {
            // Rows as a table file (a CSV with a header, as datasets are uploaded) for a model trained from a table.
            var table = await ReadTableAsync(ctx, options, datasets, format);
            await Training.TabularPredict.PredictAsync(ctx, manager, registry, model, version, table, options);
            return;
        }

        using var document = await ReadBodyAsync(ctx, options);
        var root = document.RootElement;
        if (root.ValueKind == JsonValueKind.Object && root.TryGetProperty("instances", out var instances))
        {
            // Row-by-row calls of a model trained from a table (KServe v1 / TF Serving shape).
            await Training.TabularPredict.PredictAsync(ctx, manager, registry, model, version, instances, options);
            return;
        }

        if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("inputs", out var inputs) || inputs.ValueKind != JsonValueKind.Object)
        {
            throw InferenceErrors.Invalid("the body must be {\"inputs\": {\"<input name>\": <nested arrays>}}");
        }

        var description = await manager.DescribeAsync(model, version, ctx.RequestAborted);
        // errors from here on name the version too
        Deployments.DeploymentRouter.SetVersionHeader(ctx, description.Version.ToString(System.Globalization.CultureInfo.InvariantCulture));
        string? requestId;
        string[]? requested;
        List<Tensor> tensors;
        bool added;
        try
        {
            // Of another type, "id" would be dropped and "outputs" would return every output: refused, as /v2 does.
            requestId = !root.TryGetProperty("id", out var id) ? null
                : id.ValueKind == JsonValueKind.String ? id.GetString()
                : throw InferenceErrors.Invalid($"\"id\" must be a string, not {TensorJson.Kind(id)}");
            requested = !root.TryGetProperty("outputs", out var o) ? null
                : o.ValueKind != JsonValueKind.Array ? throw InferenceErrors.Invalid($"\"outputs\" must be an array of output names, not {TensorJson.Kind(o)}")
                : o.EnumerateArray().Select(e => e.ValueKind == JsonValueKind.String
                    ? e.GetString()!
                    : throw InferenceErrors.Invalid($"\"outputs\" must list output names as strings, not {TensorJson.Kind(e)}")).ToArray();
            (tensors, added) = ReadInputs(description, inputs, options);
        }
        catch (InvalidOperationException ex)
        {
            throw TensorJson.UnreadableText(ex);
        }

        var request = new InferenceRequest
        {
            Id = requestId,
            Inputs = tensors,
            RequestedOutputs = requested,
        };
        var payloads = await PayloadLog.ForAsync(call.Payloads, ctx, model);
        payloads?.Write(ctx, model, "request", PayloadLog.Describe(request.Inputs));
        var shadows = route is null ? null : call.Shadows;
        var capture = shadows?.Capture(route, request);
        using var response = await Deployments.DeploymentRouter.WatchAsync(ctx, route, manager.InferAsync(model, version, request, ctx.RequestAborted));
        ctx.Usage().ReportInference(response);
        payloads?.Write(ctx, model, "response", PayloadLog.Describe(response.Outputs));
        Deployments.DeploymentRouter.SetVersionHeader(ctx, response.ModelVersion);
        shadows?.Offer(capture, response);
        using var encode = manager.Telemetry.StartEncode(response, "predict");
        await WriteOutputsAsync(ctx, response, added);
    }

    // A key given twice is ambiguous (parsers disagree on which wins): refused, as on every route.
    private static readonly JsonDocumentOptions UniqueKeys = new() { AllowDuplicateProperties = false };

    // The body as JSON.
    private static async Task<JsonDocument> ReadBodyAsync(HttpContext ctx, InferenceOptions options)
    {
        try
        {
            return await JsonDocument.ParseAsync(LimitedBody(ctx, options), UniqueKeys, ctx.RequestAborted);
        }
        catch (JsonException ex)
        {
            throw InferenceErrors.Invalid(JsonBodyErrors.Describe("malformed JSON in the request body", ex));
        }
        catch (InvalidOperationException ex)
        {
            throw TensorJson.UnreadableText(ex); // the duplicate-key check reads every key, and a lone surrogate is no text
        }
    }

    // text/csv, text/tab-separated-values and JSON Lines bodies hold rows; anything else is read as JSON.
    private static Maas.Core.Datasets.DatasetFormat? TableFormat(string? contentType) =>
        Microsoft.Net.Http.Headers.MediaTypeHeaderValue.TryParse(contentType, out var media) ? media.MediaType.Value?.ToLowerInvariant() switch
        {
            "text/csv" => Maas.Core.Datasets.DatasetFormat.Csv,
            "text/tab-separated-values" => Maas.Core.Datasets.DatasetFormat.Tsv,
            "application/jsonl" or "application/x-ndjson" or "application/jsonlines" => Maas.Core.Datasets.DatasetFormat.JsonLines,
            _ => null,
        } : null;

    // The body as a table, held to Maas:Inference:MaxRequestBodyBytes as a JSON body is, and read under the server's
    // dataset limits; a bad file names its line.
    private static async Task<DatasetTable> ReadTableAsync(HttpContext ctx, InferenceOptions options, DatasetOptions datasets, DatasetFormat format)
    {
        using var body = new MemoryStream();
        await LimitedBody(ctx, options).CopyToAsync(body, ctx.RequestAborted);
        body.Position = 0;
        return Training.TabularPredict.ReadTable(body, format, datasets);
    }

    // The body, refused over Maas:Inference:MaxRequestBodyBytes whether or not it says its length.
    private static LimitedStream LimitedBody(HttpContext ctx, InferenceOptions options)
    {
        if (ctx.Request.ContentLength > options.MaxRequestBodyBytes)
        {
            throw InferenceErrors.Invalid($"the request body is {ctx.Request.ContentLength} bytes, over the limit of {options.MaxRequestBodyBytes} bytes " +
                $"(Maas:Inference:MaxRequestBodyBytes)");
        }

        if (ctx.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } sizeFeature)
        {
            sizeFeature.MaxRequestBodySize = options.MaxRequestBodyBytes + 1;
        }

        return new LimitedStream(ctx.Request.Body, options.MaxRequestBodyBytes);
    }

    // The nested arrays as the model's input tensors; "added" when one example came without its batch dimension.
    private static (List<Tensor> Tensors, bool Added) ReadInputs(ModelDescription description, JsonElement inputs, InferenceOptions options)
    {
        var tensors = new List<Tensor>();
        var added = false;
        try
        {
            foreach (var property in inputs.EnumerateObject())
            {
                var meta = description.Inputs.FirstOrDefault(i => i.Name == property.Name) ?? throw InferenceErrors.Invalid(
                    $"unknown input '{property.Name}': model '{description.Name}' takes {string.Join(", ", description.Inputs.Select(RequestValidator.Describe))}");
                var shape = InferShape(property.Name, property.Value);
                if (shape.Length == meta.Shape.Length - 1 && meta.HasDynamicBatchDimension)
                {
                    // One example without the batch dimension: send it as a batch of one and unwrap the outputs.
                    shape = [1, .. shape];
                    added = true;
                }

                var count = TensorShape.ElementCount(property.Name, shape);
                if (count > options.MaxTensorElements)
                {
                    throw InferenceErrors.Invalid($"input '{property.Name}' has {count} elements, over the limit of {options.MaxTensorElements} elements per tensor " +
                        $"(Maas:Inference:MaxTensorElements)");
                }

                tensors.Add(property.Value.ValueKind == JsonValueKind.Array
                    ? TensorJson.Read(property.Name, meta.DataType, shape, count, property.Value)
                    : Scalar(property.Name, meta.DataType, shape, property.Value));
            }

            return (tensors, added);
        }
        catch
        {
            tensors.ForEach(t => t.Dispose());
            throw;
        }
    }

    private static Task WriteOutputsAsync(HttpContext ctx, InferenceResponse response, bool added) => V2Endpoints.Json(ctx, StatusCodes.Status200OK, w =>
    {
        w.WriteString("model_name", ModelKeys.RelativeTo(response.ModelName, ctx.CallerTenant()));
        w.WriteString("model_version", response.ModelVersion);
        if (response.Id is { } rid)
        {
            w.WriteString("id", rid);
        }

        w.WriteStartObject("outputs");
        foreach (var output in response.Outputs)
        {
            w.WritePropertyName(output.Name);
            TensorJson.WriteNested(w, output, added && output.Shape is [1, ..] ? 1 : 0);
        }

        w.WriteEndObject();
    });

    /// <summary>The shape of a nested array; throws when it is ragged.</summary>
    public static long[] InferShape(string name, JsonElement value)
    {
        var dims = new List<long>();
        for (var e = value; e.ValueKind == JsonValueKind.Array; e = e.GetArrayLength() > 0 ? e[0] : default)
        {
            dims.Add(e.GetArrayLength());
            if (e.GetArrayLength() == 0)
            {
                break;
            }
        }

        var shape = dims.ToArray();
        Check(name, value, shape, 0);
        return shape;
    }

    private static void Check(string name, JsonElement e, long[] shape, int depth)
    {
        if (depth == shape.Length)
        {
            if (e.ValueKind == JsonValueKind.Array)
            {
                throw InferenceErrors.Invalid($"input '{name}' is ragged: arrays nest deeper than {depth} levels in one place only");
            }

            return;
        }

        if (e.ValueKind != JsonValueKind.Array || e.GetArrayLength() != shape[depth])
        {
            throw InferenceErrors.Invalid(
                $"input '{name}' is ragged: at depth {depth} one element has {(e.ValueKind == JsonValueKind.Array ? e.GetArrayLength() + " items" : "no array")} where the " +
                $"first has {shape[depth]}; the nested arrays must form a rectangular shape");
        }

        foreach (var item in e.EnumerateArray())
        {
            Check(name, item, shape, depth + 1);
        }
    }

    private static Tensor Scalar(string name, TensorDataType type, long[] shape, JsonElement value)
    {
        if (type == TensorDataType.Bytes)
        {
            return value.ValueKind == JsonValueKind.String
                ? Tensor.FromStrings(name, shape, [value.GetString()!])
                : throw InferenceErrors.Invalid($"input '{name}' is BYTES: give a string");
        }

        var tensor = Tensor.Allocate(name, type, shape);
        try
        {
            TensorJson.WriteElement(name, type, value, tensor.Data.Span, 0);
            return tensor;
        }
        catch
        {
            tensor.Dispose();
            throw;
        }
    }

    // Counts bytes so a body without Content-Length still stops at the limit.
    private sealed class LimitedStream(Stream inner, long limit) : Stream
    {
        private long _read;

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => _read; set => throw new NotSupportedException(); }

        public override void Flush()
        {
        }

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException("synchronous reads are off");

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            var n = await inner.ReadAsync(buffer, cancellationToken);
            _read += n;
            return _read > limit
                ? throw InferenceErrors.Invalid($"the request body is over the limit of {limit} bytes (Maas:Inference:MaxRequestBodyBytes)")
                : n;
        }

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
