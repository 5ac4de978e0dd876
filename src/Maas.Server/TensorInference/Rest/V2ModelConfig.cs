using System.Text.Json;
using Maas.Core.TensorServing;

namespace Maas.Server.TensorInference.Rest;

/// <summary>
/// Triton's model configuration extension, <c>GET /v2/models/{model}[/versions/{version}]/config</c>: the version as a
/// JSON <c>ModelConfig</c> (model_config.proto) built from what this server knows of it, its signature and the
/// scheduling it is served with (there is no config.pbtxt here: the registry and the model's serving configuration
/// stand in for it).
/// </summary>
internal static class V2ModelConfig
{
    public static Task GetAsync(HttpContext ctx, ModelManager manager, InferenceCallServices call, string model, string? version) => V2Endpoints.Guard(ctx, async () =>
    {
        // As metadata: without a version, a deployed model's primary version.
        version ??= call.Router.Find(model) is { } deployment
            ? Deployments.DeploymentRouter.PrimaryVersion(deployment).ToString(System.Globalization.CultureInfo.InvariantCulture)
            : null;
        var (description, scheduler) = await manager.ConfigurationAsync(model, version, ctx.RequestAborted);
        Deployments.DeploymentRouter.SetVersionHeader(ctx, description.Version.ToString(System.Globalization.CultureInfo.InvariantCulture));
        await V2Endpoints.Json(ctx, StatusCodes.Status200OK, w => Write(w, description, scheduler));
    });

    /// <summary>Triton's data type name of a tensor type (<c>TYPE_FP32</c>; BYTES is <c>TYPE_STRING</c>).</summary>
    public static string DataType(TensorDataType type) => type == TensorDataType.Bytes ? "TYPE_STRING" : "TYPE_" + type.Name();

    /// <summary>Requests are batched along a first dimension every tensor leaves open (-1); without one, none is.</summary>
    public static bool IsBatched(ModelDescription d, SchedulerOptions s) => s.MaxBatchSize > 0 && d.Inputs.Concat(d.Outputs).All(t => t.Shape is [-1, ..]);

    // The ModelConfig fields a client reads: name, platform and backend, max_batch_size with dims that leave out the
    // batch dimension when it is set (as Triton's do), dynamic_batching and instance_group from the scheduler.
    private static void Write(Utf8JsonWriter w, ModelDescription d, SchedulerOptions s)
    {
        var batched = IsBatched(d, s);
        w.WriteString("name", d.Name);
        w.WriteString("platform", d.Platform);
        w.WriteString("backend", d.Platform == "onnxruntime_onnx" ? "onnxruntime" : d.Platform);
        w.WriteStartObject("version_policy");
        w.WriteStartObject("all"); // every version of the registry is served, loaded on its first request
        w.WriteEndObject();
        w.WriteEndObject();
        w.WriteNumber("max_batch_size", batched ? s.MaxBatchSize : 0);
        WriteTensors(w, "input", d.Inputs, batched, input: true);
        WriteTensors(w, "output", d.Outputs, batched, input: false);
        if (batched)
        {
            w.WriteStartObject("dynamic_batching");
            w.WriteStartArray("preferred_batch_size");
            foreach (var size in s.PreferredBatchSizes)
            {
                w.WriteNumberValue(size);
            }

            w.WriteEndArray();
            w.WriteNumber("max_queue_delay_microseconds", (long)s.MaxQueueDelay.TotalMicroseconds);
            w.WriteBoolean("preserve_ordering", false);
            w.WriteEndObject();
        }

        w.WriteStartArray("instance_group");
        w.WriteStartObject();
        w.WriteString("name", d.Name + "_0");
        w.WriteString("kind", "KIND_CPU");
        w.WriteNumber("count", s.InstanceCount);
        w.WriteStartArray("gpus");
        w.WriteEndArray();
        w.WriteEndObject();
        w.WriteEndArray();
    }

    private static void WriteTensors(Utf8JsonWriter w, string property, IReadOnlyList<TensorMetadata> tensors, bool batched, bool input)
    {
        w.WriteStartArray(property);
        foreach (var t in tensors)
        {
            w.WriteStartObject();
            w.WriteString("name", t.Name);
            w.WriteString("data_type", DataType(t.DataType));
            if (input)
            {
                w.WriteString("format", "FORMAT_NONE");
            }

            w.WriteStartArray("dims");
            foreach (var dim in batched ? t.Shape.Skip(1) : t.Shape)
            {
                w.WriteNumberValue(dim);
            }

            w.WriteEndArray();
            w.WriteBoolean("is_shape_tensor", false);
            w.WriteEndObject();
        }

        w.WriteEndArray();
    }
}
