using System.Reflection;
using System.Text.Json;
using Maas.Core.Registry;
using Maas.Core.Tenancy;
using Maas.Core.TensorServing;
using Maas.Server.Auth;
using Maas.Server.Errors;
using Maas.Server.Payloads;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Options;

namespace Maas.Server.TensorInference.Rest;

/// <summary>The KServe Open Inference Protocol v2 over REST, with the repository, statistics and binary data extensions.</summary>
internal static class V2Endpoints
{
    /// <summary>The extensions the server metadata advertises.</summary>
    public static readonly string[] Extensions = ["binary_tensor_data", "classification", "model_repository", "statistics", "parameters", "model_configuration"];

    /// <summary>Escapes only what JSON requires, so messages keep their quotes readable ('input', not \u0027input\u0027).</summary>
    public static readonly System.Text.Encodings.Web.JavaScriptEncoder JsonEncoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping;

    /// <summary>The server version shown in server metadata.</summary>
    public static string ServerVersion { get; } =
        typeof(V2Endpoints).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion.Split('+')[0] ?? "0.0.0";

    /// <summary>Maps every v2 route.</summary>
    public static void Map(IEndpointRouteBuilder app)
    {
        var v2 = app.MapGroup("/v2").WithTags("inference").RequireScope(MaasScopes.Infer, MaasScopes.ModelsRead);
        v2.MapGet("", (HttpContext ctx, InferenceCallServices call) => Json(ctx, StatusCodes.Status200OK, w =>
        {
            w.WriteString("name", "maas");
            w.WriteString("version", ServerVersion);
            w.WriteStartArray("extensions");
            foreach (var e in Extensions)
            {
                w.WriteStringValue(e);
            }

            if (call.SharedMemory.Enabled)
            {
                w.WriteStringValue(SharedMemory.SystemSharedMemoryRegistry.ExtensionName);
            }

            w.WriteEndArray();
        }));
        v2.MapGet("/health/live", (HttpContext ctx) => Json(ctx, StatusCodes.Status200OK, w => w.WriteBoolean("live", true))).AllowAnonymousProbe();
        v2.MapGet("/health/ready", (HttpContext ctx, IHostApplicationLifetime lifetime) =>
        {
            var ready = !lifetime.ApplicationStopping.IsCancellationRequested;
            return Json(ctx, ready ? StatusCodes.Status200OK : StatusCodes.Status503ServiceUnavailable, w => w.WriteBoolean("ready", ready));
        }).AllowAnonymousProbe();

        v2.MapGet("/models/stats", (HttpContext ctx, ModelManager m) => Statistics(ctx, m, null, null)).RequireScope(MaasScopes.Admin);
        foreach (var prefix in new[] { "/models/{model}", "/models/{model}/versions/{version}" })
        {
            v2.MapGet(prefix, (HttpContext ctx, ModelManager m, InferenceCallServices call, string model, string? version) => Metadata(ctx, m, call.Router, model, version));
            v2.MapGet(prefix + "/ready", (HttpContext ctx, ModelManager m, InferenceCallServices call, string model, string? version) =>
                Ready(ctx, m, call.Router, model, version));
            v2.MapGet(prefix + "/stats", (HttpContext ctx, ModelManager m, string model, string? version) => Statistics(ctx, m, model, version))
                .RequireScope(MaasScopes.ModelsRead);
            v2.MapGet(prefix + "/config", V2ModelConfig.GetAsync).RequireScope(MaasScopes.ModelsRead);
            v2.MapPost(prefix + "/infer", (HttpContext ctx, ModelManager m, InferenceCallServices call, IOptions<InferenceOptions> o, string model, string? version) =>
                Infer(ctx, m, call, o.Value, model, version)).RequireScope(MaasScopes.Infer);

            // The generate extension, for GGUF models (V2GenerateEndpoints).
            v2.MapPost(prefix + "/generate", V2GenerateEndpoints.GenerateAsync).RequireScope(MaasScopes.Infer);
            v2.MapPost(prefix + "/generate_stream", V2GenerateEndpoints.GenerateStreamAsync).RequireScope(MaasScopes.Infer);
        }

        // A mistyped route (/infers, a GET of /infer) answers in the protocol's error shape, not with an empty 404 that
        // a client cannot tell from a missing model.
        app.MapFallback("/v2/{**rest}", (HttpContext ctx) => Json(ctx, StatusCodes.Status404NotFound, w =>
            w.WriteString("error", $"no route {ctx.Request.Method} {ctx.Request.Path}; the Open Inference Protocol routes are listed in docs/api.md")));
        v2.MapPost("/repository/index", RepositoryIndex).RequireScope(MaasScopes.Admin);
        v2.MapPost("/repository/models/{model}/load", (HttpContext ctx, ModelManager m, string model) => Guard(ctx, async () =>
        {
            var state = await m.LoadAsync(model, await VersionParameterAsync(ctx), ctx.RequestAborted);
            if (state.State != "READY")
            {
                throw new InferenceException(InferenceErrorKind.Unavailable, $"model '{state.Name}' version {state.Version} failed to load: {state.Reason}");
            }

            await Json(ctx, StatusCodes.Status200OK, _ => { });
        })).RequireScope(MaasScopes.ModelsWrite);
        v2.MapPost("/repository/models/{model}/unload", (HttpContext ctx, ModelManager m, string model) => Guard(ctx, async () =>
        {
            await m.UnloadAsync(model, await VersionParameterAsync(ctx), ctx.RequestAborted);
            await Json(ctx, StatusCodes.Status200OK, _ => { });
        })).RequireScope(MaasScopes.ModelsWrite);
    }

    private static Task Infer(HttpContext ctx, ModelManager manager, InferenceCallServices call, InferenceOptions options, string model, string? version) => Guard(ctx, async () =>
    {
        // A call without a version follows the model's deployment, if it has one.
        var route = version is null ? call.Router.Route(ctx, model) : null;
        version ??= route?.VersionText;
        // Admitted before the body is read, so that a refusal under overload costs the headers only. The admission holds
        // the version loaded until the answer is computed: a reload (a changed configuration) swaps in beside it and
        // retires this instance only after the call, which used to find its scheduler draining ("is unloading").
        QueueAdmission admission;
        try
        {
            admission = await manager.AdmitAsync(model, version, ctx.RequestAborted);
        }
        catch (InferenceException ex) when (ex.Kind == InferenceErrorKind.QueueFull)
        {
            await RefuseUnreadAsync(ctx, ex);
            return;
        }

        V2InferCall body;
        Deployments.ShadowQueue? shadows;
        Deployments.ShadowQueue.ShadowCapture? capture;
        InferenceResponse computed;
        PayloadLog? payloads;
        using (admission)
        {
            Deployments.DeploymentRouter.SetVersionHeader(ctx, admission.Scheduler.Version); // errors from here on name the version too
            body = await V2RequestReader.ReadAsync(ctx.Request, options, call.SharedMemory, ctx.RequestAborted);
            payloads = await PayloadLog.ForAsync(call.Payloads, ctx, model);
            payloads?.Write(ctx, model, "request", PayloadLog.Describe(body.Request.Inputs));
            shadows = route is null ? null : call.Shadows;
            capture = shadows?.Capture(route, body.Request);
            computed = await Deployments.DeploymentRouter.WatchAsync(ctx, route, admission.Scheduler.InferAsync(body.Request, admission.Ticket, ctx.RequestAborted));
        }

        using var response = computed;
        ctx.Usage().ReportInference(response);
        using var answer = await OutputClassification.ApplyAsync(response, body.Classifications, manager, ctx.RequestAborted);
        payloads?.Write(ctx, model, "response", PayloadLog.Describe(answer.Outputs));
        Deployments.DeploymentRouter.SetVersionHeader(ctx, response.ModelVersion);
        using (manager.Telemetry.StartEncode(answer, "v2-rest"))
        {
            await V2ResponseWriter.WriteAsync(ctx.Response, answer, body, ctx.RequestAborted);
        }

        shadows?.Offer(capture, response);
    });

    private static Task Metadata(HttpContext ctx, ModelManager manager, Deployments.DeploymentRouter router, string model, string? version) => Guard(ctx, async () =>
    {
        var d = await DescribeAsync(manager, router, model, version, ctx.RequestAborted);
        Deployments.DeploymentRouter.SetVersionHeader(ctx, d.Version.ToString(System.Globalization.CultureInfo.InvariantCulture));
        await Json(ctx, StatusCodes.Status200OK, w =>
        {
            w.WriteString("name", ModelKeys.RelativeTo(d.Name, ctx.CallerTenant()));
            w.WriteStartArray("versions");
            foreach (var v in d.Versions)
            {
                w.WriteStringValue(v.ToString(System.Globalization.CultureInfo.InvariantCulture));
            }

            w.WriteEndArray();
            w.WriteString("platform", d.Platform);
            WriteTensors(w, "inputs", d.Inputs);
            WriteTensors(w, "outputs", d.Outputs);
        });
    });

    /// <summary>
    /// Metadata of the version a call would reach: without a version or alias, a deployed model's primary version
    /// (<see cref="Deployments.DeploymentRouter.PrimaryVersion"/>), not the registry's default.
    /// </summary>
    public static Task<ModelDescription> DescribeAsync(ModelManager manager, Deployments.DeploymentRouter router, string model, string? version,
        CancellationToken cancellationToken) =>
        manager.DescribeAsync(model, version ?? (router.Find(model) is { } deployment ? Text(Deployments.DeploymentRouter.PrimaryVersion(deployment)) : null), cancellationToken);

    /// <summary>
    /// Readiness as a call would meet it: without a version or alias, a deployed model is ready when every version its
    /// split may route to is; otherwise the resolved version's.
    /// </summary>
    public static async Task<bool> IsReadyAsync(ModelManager manager, Deployments.DeploymentRouter router, string model, string? version, CancellationToken cancellationToken)
    {
        if (version is not null || router.Find(model) is not { } deployment)
        {
            return await manager.IsReadyAsync(model, version, cancellationToken);
        }

        foreach (var routed in Deployments.DeploymentRouter.RoutedVersions(deployment))
        {
            try
            {
                if (!await manager.IsReadyAsync(model, Text(routed), cancellationToken))
                {
                    return false;
                }
            }
            catch (InferenceException e) when (e.Kind == InferenceErrorKind.NotFound)
            {
                // Deleted on another server: this one routes to it until its next refresh, so the model is not ready.
                return false;
            }
        }

        return true;
    }

    private static string Text(int version) => version.ToString(System.Globalization.CultureInfo.InvariantCulture);

    private static void WriteTensors(Utf8JsonWriter w, string property, IReadOnlyList<TensorMetadata> tensors)
    {
        w.WriteStartArray(property);
        foreach (var t in tensors)
        {
            TensorJson.WriteStart(w, t.Name, t.DataType, t.Shape);
            w.WriteEndObject();
        }

        w.WriteEndArray();
    }

    private static Task Ready(HttpContext ctx, ModelManager manager, Deployments.DeploymentRouter router, string model, string? version) => Guard(ctx, async () =>
    {
        var ready = await IsReadyAsync(manager, router, model, version, ctx.RequestAborted);
        await Json(ctx, ready ? StatusCodes.Status200OK : StatusCodes.Status400BadRequest, w =>
        {
            w.WriteString("name", ModelKeys.RelativeTo(model, ctx.CallerTenant()));
            w.WriteBoolean("ready", ready);
        });
    });

    private static Task Statistics(HttpContext ctx, ModelManager manager, string? model, string? version) => Guard(ctx, async () =>
    {
        var stats = await manager.StatisticsAsync(model, version, ctx.RequestAborted);
        await Json(ctx, StatusCodes.Status200OK, w =>
        {
            w.WriteStartArray("model_stats");
            foreach (var s in stats)
            {
                WriteStatistics(w, s, ctx.CallerTenant());
            }

            w.WriteEndArray();
        });
    });

    /// <summary>Writes one model's statistics in the statistics extension's shape.</summary>
    public static void WriteStatistics(Utf8JsonWriter w, ModelStatisticsSnapshot s, string callerTenant)
    {
        w.WriteStartObject();
        w.WriteString("name", ModelKeys.RelativeTo(s.Name, callerTenant));
        w.WriteString("version", s.Version);
        w.WriteNumber("last_inference", s.LastInference);
        w.WriteNumber("inference_count", s.InferenceCount);
        w.WriteNumber("execution_count", s.ExecutionCount);
        w.WriteStartObject("inference_stats");
        Duration(w, "success", s.Success);
        Duration(w, "fail", s.Fail);
        Duration(w, "queue", s.Queue);
        Duration(w, "compute_input", s.ComputeInput);
        Duration(w, "compute_infer", s.ComputeInfer);
        Duration(w, "compute_output", s.ComputeOutput);
        Duration(w, "cache_hit", default);
        Duration(w, "cache_miss", default);
        w.WriteEndObject();
        w.WriteStartArray("batch_stats");
        foreach (var b in s.BatchStats)
        {
            w.WriteStartObject();
            w.WriteNumber("batch_size", b.BatchSize);
            Duration(w, "compute_input", b.ComputeInput);
            Duration(w, "compute_infer", b.ComputeInfer);
            Duration(w, "compute_output", b.ComputeOutput);
            w.WriteEndObject();
        }

        w.WriteEndArray();
        w.WriteEndObject();
    }

    private static void Duration(Utf8JsonWriter w, string name, DurationStat d)
    {
        w.WriteStartObject(name);
        w.WriteNumber("count", d.Count);
        w.WriteNumber("ns", d.Ns);
        w.WriteEndObject();
    }

    private static Task RepositoryIndex(HttpContext ctx, ModelManager manager) => Guard(ctx, async () =>
    {
        var readyOnly = false;
        if (ctx.Request.ContentLength is > 0 || ctx.Request.Headers.TransferEncoding.Count > 0)
        {
            // Of another type, "ready" would list every version: refused.
            using var body = await ReadSmallJsonAsync(ctx);
            if (body is not null && ObjectBody(body).TryGetProperty("ready", out var r))
            {
                readyOnly = r.ValueKind switch
                {
                    JsonValueKind.True => true,
                    JsonValueKind.False => false,
                    _ => throw InferenceErrors.Invalid($"\"ready\" must be true or false, not {r.GetRawText()}"),
                };
            }
        }

        var index = await manager.IndexAsync(readyOnly, ctx.RequestAborted);
        ctx.Response.StatusCode = StatusCodes.Status200OK;
        ctx.Response.ContentType = "application/json";
        await using var writer = new Utf8JsonWriter(ctx.Response.Body, new JsonWriterOptions { Encoder = JsonEncoder });
        writer.WriteStartArray();
        foreach (var s in index)
        {
            writer.WriteStartObject();
            writer.WriteString("name", s.Name);
            writer.WriteString("version", s.Version.ToString(System.Globalization.CultureInfo.InvariantCulture));
            writer.WriteString("state", s.State);
            writer.WriteString("reason", s.Reason);
            writer.WriteEndObject();
        }

        writer.WriteEndArray();
    });

    // Load and unload take an optional {"parameters": {"version": "N"}} to address one version.
    private static async Task<string?> VersionParameterAsync(HttpContext ctx)
    {
        if (ctx.Request.ContentLength is null or 0 && ctx.Request.Headers.TransferEncoding.Count == 0)
        {
            return null;
        }

        using var body = await ReadSmallJsonAsync(ctx);
        try
        {
            // "parameters" of another type was ignored (the latest version loaded or unloaded): refused, and so are
            // Triton's config and file overrides (RepositoryParameters).
            if (body is null || !ObjectBody(body).TryGetProperty("parameters", out var p))
            {
                return null;
            }

            if (p.ValueKind != JsonValueKind.Object)
            {
                throw InferenceErrors.Invalid($"\"parameters\" must be an object, not {TensorJson.Kind(p)}");
            }

            foreach (var parameter in p.EnumerateObject())
            {
                RepositoryParameters.CheckSupported(parameter.Name);
            }

            if (p.TryGetProperty("version", out var v))
            {
                return v.ValueKind switch
                {
                    JsonValueKind.String => v.GetString(),
                    JsonValueKind.Number => v.GetRawText(),
                    _ => throw InferenceErrors.Invalid("parameters.version must be a string or a number"),
                };
            }
        }
        catch (InvalidOperationException ex)
        {
            throw TensorJson.UnreadableText(ex);
        }

        return null;
    }

    internal static JsonElement ObjectBody(JsonDocument body) => body.RootElement.ValueKind == JsonValueKind.Object
        ? body.RootElement
        : throw InferenceErrors.Invalid($"the request body must be a JSON object, not {TensorJson.Kind(body.RootElement)}");

    internal static async Task<JsonDocument?> ReadSmallJsonAsync(HttpContext ctx)
    {
        try
        {
            return await JsonDocument.ParseAsync(ctx.Request.Body, new JsonDocumentOptions { AllowDuplicateProperties = false }, ctx.RequestAborted);
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

    /// <summary>Runs a handler and turns failures into the protocol's error body: {"error": "..."}.</summary>
    public static Task Guard(HttpContext ctx, Func<Task> handler) => Guard(ctx, handler, WriteErrorAsync);

    /// <summary>Runs a handler and turns failures into an error body written by <paramref name="writeError"/>.</summary>
    public static async Task Guard(HttpContext ctx, Func<Task> handler, Func<HttpContext, InferenceException, Task> writeError)
    {
        try
        {
            await handler();
        }
        catch (InferenceException ex)
        {
            await writeError(ctx, ex);
        }
        catch (Maas.Core.Registry.RegistryException ex)
        {
            await writeError(ctx, InferenceErrors.FromRegistry(ex));
        }
        catch (OperationCanceledException) when (ctx.RequestAborted.IsCancellationRequested)
        {
            // The caller is gone; nobody to answer.
        }
        catch (BadHttpRequestException ex) when (!ctx.RequestAborted.IsCancellationRequested)
        {
            await writeError(ctx, InferenceErrors.Invalid(ex.StatusCode == StatusCodes.Status413PayloadTooLarge
                ? $"the request body is over the limit of {ctx.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpMaxRequestBodySizeFeature>()?.MaxRequestBodySize} bytes " +
                    $"(Kestrel:Limits:MaxRequestBodySize)"
                : ex.Message));
        }
    }

    /// <summary>
    /// Answers a refusal without reading the request body, and closes an HTTP/1.1 connection after it: Kestrel would
    /// otherwise read and discard the rest of the upload (for up to 5 s) to keep the connection, even with
    /// <c>Connection: close</c>. A body size limit of 0, set before anything was read, makes that drain stop at once.
    /// What the listener read ahead of the handler is all of the body the server ever took
    /// (<see cref="InferenceOptions.HttpReadAheadBytes"/>); the rest is still in the socket when it closes. HTTP/2
    /// resets only the stream.
    /// </summary>
    private static Task RefuseUnreadAsync(HttpContext ctx, InferenceException refusal)
    {
        var http1 = HttpProtocol.IsHttp11(ctx.Request.Protocol) || HttpProtocol.IsHttp10(ctx.Request.Protocol);
        if (http1 && ctx.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } size)
        {
            size.MaxRequestBodySize = 0;
        }

        return WriteErrorAsync(ctx, refusal, close: http1);
    }

    /// <summary>Writes {"error": message} with the status for the failure (and Retry-After for a full queue).</summary>
    public static Task WriteErrorAsync(HttpContext ctx, InferenceException ex) => WriteErrorAsync(ctx, ex, close: false);

    private static Task WriteErrorAsync(HttpContext ctx, InferenceException ex, bool close)
    {
        if (ctx.Response.HasStarted)
        {
            ctx.Abort();
            return Task.CompletedTask;
        }

        Deployments.DeploymentRouter.ClearForError(ctx);
        if (close)
        {
            ctx.Response.Headers.Connection = "close";
        }

        if (ex.RetryAfter is { } retry)
        {
            ctx.Response.Headers.RetryAfter = Math.Max(1, (int)Math.Ceiling(retry.TotalSeconds)).ToString(System.Globalization.CultureInfo.InvariantCulture);
        }

        return Json(ctx, InferenceErrors.HttpStatus(ex.Kind), w =>
        {
            w.WriteString("error", ex.Message);
            if (ex is { LimitName: { } limit, Limit: { } value })
            {
                w.WriteString("limit", limit);
                w.WriteNumber("limit_value", value);
            }
        });
    }

    /// <summary>Writes a JSON object built by <paramref name="body"/>.</summary>
    public static async Task Json(HttpContext ctx, int status, Action<Utf8JsonWriter> body)
    {
        ctx.Response.StatusCode = status;
        ctx.Response.ContentType = "application/json";
        var buffer = new System.Buffers.ArrayBufferWriter<byte>(256);
        using (var w = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = JsonEncoder }))
        {
            w.WriteStartObject();
            body(w);
            w.WriteEndObject();
        }

        ctx.Response.ContentLength = buffer.WrittenCount;
        await ctx.Response.Body.WriteAsync(buffer.WrittenMemory, ctx.RequestAborted);
    }
}
