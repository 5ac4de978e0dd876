using System.Globalization;
using Google.Protobuf;
using Maas.Core.Registry;
using Maas.Core.Tenancy;
using Maas.Core.TensorServing;
using Maas.Server.Auth;
using Maas.Server.Payloads;
using Maas.Server.TensorInference.Grpc.Protocol;
using Maas.Server.TensorInference.Rest;
using Microsoft.Extensions.Options;

namespace Maas.Server.TensorInference.Grpc;

/// <summary>
/// inference.GRPCInferenceService over HTTP/2: reads length-prefixed protobuf messages, calls the model manager,
/// and ends every call with grpc-status / grpc-message trailers.
/// </summary>
internal sealed class GrpcInferenceService(
    ModelManager manager,
    IOptions<InferenceOptions> options,
    IHostApplicationLifetime lifetime,
    InferenceCallServices call,
    ILogger<GrpcInferenceService> logger)
{
    private const string ServicePrefix = "/inference.GRPCInferenceService/";

    /// <summary>Handles one HTTP/2 request as a gRPC call.</summary>
    public async Task HandleAsync(HttpContext ctx)
    {
        if (StartCall(ctx) is not { } codec)
        {
            return;
        }

        var path = ctx.Request.Path.Value ?? "";
        var method = path.StartsWith(ServicePrefix, StringComparison.Ordinal) ? path[ServicePrefix.Length..] : null;

        // grpc-timeout is the call's deadline and, like REST's "timeout" parameter, the inference timeout of its
        // requests (the time left of it), in place of the server's or model's timeout: longer or shorter.
        var callDeadline = CallDeadline.From(GrpcStatus.ParseTimeout(ctx.Request.Headers["grpc-timeout"]));
        using var deadline = callDeadline.Timeout is { } timeout ? new CancellationTokenSource(timeout) : null;

        // A key revoked while the call runs ends it with UNAUTHENTICATED (Auth/OpenCalls).
        var revocation = ctx.Features.Get<Auth.CallRevocation>();
        using var linked = deadline is null && revocation is null
            ? null
            : CancellationTokenSource.CreateLinkedTokenSource(ctx.RequestAborted, deadline?.Token ?? default, revocation?.Token ?? default);
        var token = linked?.Token ?? ctx.RequestAborted;
        try
        {
            await CallAsync(ctx, path, method, codec, callDeadline, token);
            Trailers(ctx, GrpcStatus.Ok, null);
        }
        catch (InferenceException ex)
        {
            Trailers(ctx, GrpcStatus.FromKind(ex.Kind), ex.Message, ex.RetryAfter);
        }
        catch (RegistryException ex)
        {
            var mapped = InferenceErrors.FromRegistry(ex);
            Trailers(ctx, GrpcStatus.FromKind(mapped.Kind), mapped.Message);
        }
        catch (GrpcCallException ex)
        {
            Trailers(ctx, ex.Status, ex.Message);
        }
        catch (OperationCanceledException) when (revocation?.Reason is { } reason && !ctx.RequestAborted.IsCancellationRequested)
        {
            Trailers(ctx, GrpcStatus.Unauthenticated, reason);
        }
        catch (OperationCanceledException) when (deadline?.IsCancellationRequested == true && !ctx.RequestAborted.IsCancellationRequested)
        {
            Trailers(ctx, GrpcStatus.DeadlineExceeded, "the call's grpc-timeout passed before it completed");
        }
        catch (OperationCanceledException) when (ctx.RequestAborted.IsCancellationRequested)
        {
            // The client cancelled (RST_STREAM); nobody is left to answer, but the metrics and usage read the status.
            Trailers(ctx, GrpcStatus.Cancelled, null);
        }
        catch (Exception ex) when (ex is IOException or BadHttpRequestException)
        {
            // Usually the connection or the stream went away mid-call: then it is the client's doing, not a failure.
            if (await ClientGoneAsync(ctx.RequestAborted))
            {
                Trailers(ctx, GrpcStatus.Cancelled, null);
            }
            else
            {
                Failed(ctx, method, ex);
            }
        }
        catch (Exception ex)
        {
            Failed(ctx, method, ex);
        }
    }

    private void Failed(HttpContext ctx, string? method, Exception ex)
    {
        logger.LogError(ex, "gRPC call {Method} failed", method);
        Trailers(ctx, GrpcStatus.Internal, $"internal error (request {ctx.TraceIdentifier}); the server log has the details");
    }

    // Kestrel fails a body read at once when the client resets the stream, but cancels RequestAborted from the thread
    // pool a moment later: a read that failed for that reason sees the token cancelled within this wait.
    private static async Task<bool> ClientGoneAsync(CancellationToken aborted)
    {
        try
        {
            await Task.Delay(TimeSpan.FromSeconds(2), aborted);
            return false;
        }
        catch (OperationCanceledException)
        {
            return true;
        }
    }

    // Answers a request that is not a gRPC call (415) or names an encoding this server lacks (UNIMPLEMENTED) and
    // returns null; else sets the response headers of a call and returns its codec.
    private Codec? StartCall(HttpContext ctx)
    {
        var request = ctx.Request;
        if (!HttpMethods.IsPost(request.Method) || request.ContentType is not { } contentType
            || !contentType.StartsWith("application/grpc", StringComparison.OrdinalIgnoreCase))
        {
            ctx.Response.StatusCode = StatusCodes.Status415UnsupportedMediaType;
            return null;
        }

        ctx.Response.StatusCode = StatusCodes.Status200OK;
        ctx.Response.ContentType = "application/grpc";
        ctx.Response.Headers["grpc-accept-encoding"] = GrpcCompression.AcceptEncoding;
        var requestEncodingName = request.Headers["grpc-encoding"].ToString();
        if (!GrpcCompression.TryParse(requestEncodingName, out var requestEncoding))
        {
            // gRPC's compression spec: an encoding the server lacks is UNIMPLEMENTED, with what it accepts in grpc-accept-encoding.
            Trailers(ctx, GrpcStatus.Unimplemented, $"grpc-encoding '{requestEncodingName}' is not supported; this server accepts {GrpcCompression.AcceptEncoding}");
            return null;
        }

        var codec = new Codec(
            requestEncoding,
            GrpcCompression.ChooseResponse(options.Value.GrpcResponseCompression, requestEncoding, request.Headers["grpc-accept-encoding"]),
            options.Value.GrpcCompressionMinBytes);
        if (codec.Response != GrpcEncoding.Identity)
        {
            ctx.Response.Headers["grpc-encoding"] = GrpcCompression.Name(codec.Response);
        }

        return codec;
    }

    private Task CallAsync(HttpContext ctx, string path, string? method, Codec codec, CallDeadline callDeadline, CancellationToken token) => method switch
    {
        "ModelInfer" => InferAsync(ctx, codec, callDeadline, token),
        "ModelStreamInfer" => StreamInferAsync(ctx, codec, callDeadline, token),
        "ServerLive" => Unary(ctx, codec, ServerLiveRequest.Parser, _ => Task.FromResult<IMessage>(new ServerLiveResponse { Live = true }), token),
        "ServerReady" => Unary(ctx, codec, ServerReadyRequest.Parser, _ => Task.FromResult<IMessage>(
            new ServerReadyResponse { Ready = !lifetime.ApplicationStopping.IsCancellationRequested }), token),
        "ServerMetadata" => Unary(ctx, codec, ServerMetadataRequest.Parser, _ => Task.FromResult<IMessage>(ServerMetadata()), token),
        "ModelReady" => Unary(ctx, codec, ModelReadyRequest.Parser, async r => new ModelReadyResponse
        {
            Ready = await Rest.V2Endpoints.IsReadyAsync(manager, call.Router, await ModelAsync(ctx, r.Name, false, token), Version(r.Version), token),
        }, token),
        "ModelMetadata" => Unary(ctx, codec, ModelMetadataRequest.Parser, async r =>
            Metadata(await Rest.V2Endpoints.DescribeAsync(manager, call.Router, await ModelAsync(ctx, r.Name, false, token), Version(r.Version), token), ctx.CallerTenant()),
            token),
        "ModelStatistics" => Unary(ctx, codec, ModelStatisticsRequest.Parser, async r => Statistics(
            await manager.StatisticsAsync(r.Name is { Length: > 0 } n ? await ModelAsync(ctx, n, false, token) : AdminOnly(ctx), Version(r.Version), token), ctx.CallerTenant()),
                token),
        "RepositoryIndex" => Unary(ctx, codec, RepositoryIndexRequest.Parser, async r => Index(await manager.IndexAsync(AdminOnly(ctx) is null && r.Ready, token)), token),
        "RepositoryModelLoad" => Unary(ctx, codec, RepositoryModelLoadRequest.Parser, async r =>
        {
            var state = await manager.LoadAsync(await ModelAsync(ctx, r.ModelName, true, token), VersionParameter(r.Parameters), token);
            return state.State == "READY"
                ? new RepositoryModelLoadResponse()
                : throw new InferenceException(InferenceErrorKind.Unavailable, $"model '{state.Name}' version {state.Version} failed to load: {state.Reason}");
        }, token),
        "RepositoryModelUnload" => Unary(ctx, codec, RepositoryModelUnloadRequest.Parser, async r =>
        {
            await manager.UnloadAsync(await ModelAsync(ctx, r.ModelName, true, token), VersionParameter(r.Parameters), token);
            return new RepositoryModelUnloadResponse();
        }, token),
        "ModelConfig" => Unary(ctx, codec, ModelConfigRequest.Parser, async r =>
        {
            // As metadata: without a version, a deployed model's primary version.
            var model = await ModelAsync(ctx, r.Name, false, token);
            var version = Version(r.Version) ?? (call.Router.Find(model) is { } deployment
                ? Deployments.DeploymentRouter.PrimaryVersion(deployment).ToString(CultureInfo.InvariantCulture)
                : null);
            var (description, scheduler) = await manager.ConfigurationAsync(model, version, token);
            return new ModelConfigResponse { Config = GrpcModelConfig.Build(description, scheduler) };
        }, token),
        "SystemSharedMemoryStatus" => Unary(ctx, codec, SystemSharedMemoryStatusRequest.Parser, r => Task.FromResult<IMessage>(SharedMemoryStatus(ctx, r)), token),
        "SystemSharedMemoryRegister" => Unary(ctx, codec, SystemSharedMemoryRegisterRequest.Parser, r =>
        {
            call.SharedMemory.Register(ctx.CallerTenant(), r.Name, r.Key, SharedMemoryNumber(r.Offset, "offset"), SharedMemoryNumber(r.ByteSize, "byte_size"));
            return Task.FromResult<IMessage>(new SystemSharedMemoryRegisterResponse());
        }, token),
        "SystemSharedMemoryUnregister" => Unary(ctx, codec, SystemSharedMemoryUnregisterRequest.Parser, r =>
        {
            call.SharedMemory.Unregister(ctx.CallerTenant(), r.Name is { Length: > 0 } name ? name : null);
            return Task.FromResult<IMessage>(new SystemSharedMemoryUnregisterResponse());
        }, token),
        _ => throw new GrpcCallException(GrpcStatus.Unimplemented, $"unknown method '{path}'; this endpoint serves inference.GRPCInferenceService"),
    };

    private SystemSharedMemoryStatusResponse SharedMemoryStatus(HttpContext ctx, SystemSharedMemoryStatusRequest request)
    {
        var response = new SystemSharedMemoryStatusResponse();
        foreach (var r in call.SharedMemory.Status(ctx.CallerTenant(), request.Name is { Length: > 0 } name ? name : null))
        {
            response.Regions[r.Name] = new SystemSharedMemoryStatusResponse.Types.RegionStatus
            {
                Name = r.Name,
                Key = r.Key,
                Offset = (ulong)r.Offset,
                ByteSize = (ulong)r.ByteSize,
            };
        }

        return response;
    }

    private static long SharedMemoryNumber(ulong value, string field) => value <= long.MaxValue
        ? (long)value
        : throw InferenceErrors.Invalid($"the register request's {field} {value} is too large");

    private static void Trailers(HttpContext ctx, int status, string? message, TimeSpan? retryAfter = null)
    {
        if (!ctx.Response.SupportsTrailers())
        {
            return;
        }

        ctx.Response.AppendTrailer("grpc-status", status.ToString(CultureInfo.InvariantCulture));
        if (!string.IsNullOrEmpty(message))
        {
            ctx.Response.AppendTrailer("grpc-message", GrpcStatus.EncodeMessage(message));
        }

        if (retryAfter is { } retry)
        {
            // Retry-After as in REST, and gRPC's own pushback hint for clients with retry policies.
            ctx.Response.AppendTrailer("retry-after", Math.Max(1, (int)Math.Ceiling(retry.TotalSeconds)).ToString(CultureInfo.InvariantCulture));
            ctx.Response.AppendTrailer("grpc-retry-pushback-ms", ((long)retry.TotalMilliseconds).ToString(CultureInfo.InvariantCulture));
        }
    }

    private async Task Unary<TRequest>(HttpContext ctx, Codec codec, MessageParser<TRequest> parser, Func<TRequest, Task<IMessage>> handler, CancellationToken token)
        where TRequest : IMessage<TRequest>
    {
        TRequest message;
        using (var buffer = await ReadSingleAsync(ctx, codec, token))
        {
            try
            {
                message = parser.ParseFrom(buffer.Span);
            }
            catch (InvalidProtocolBufferException ex)
            {
                throw InferenceErrors.Invalid($"malformed {typeof(TRequest).Name}: {ex.Message}");
            }

            // The parser dropped a known field of the wrong wire type as unknown (a load's parameters, a name as a varint).
            ProtobufWireTypes.Check(buffer.Span, message.Descriptor);
        }

        var response = await handler(message);
        await GrpcTensors.WriteAsync(ctx.Response.BodyWriter, response, token, codec.Response, codec.CompressFrom);
    }

    private async Task<PooledBuffer> ReadSingleAsync(HttpContext ctx, Codec codec, CancellationToken token) =>
        await GrpcFraming.ReadMessageAsync(ctx.Request.BodyReader, codec.Request, options.Value.MaxRequestBodyBytes, token)
        ?? throw InferenceErrors.Invalid("the call carries no request message");

    private async Task InferAsync(HttpContext ctx, Codec codec, CallDeadline callDeadline, CancellationToken token)
    {
        InferenceRequest request;
        ModelInferRequest header;
        Dictionary<string, int> classifications;
        IReadOnlyDictionary<string, SharedMemory.SharedMemoryReference> sharedMemoryOutputs;
        using (var buffer = await ReadSingleAsync(ctx, codec, token))
        {
            (header, request, classifications, sharedMemoryOutputs) = GrpcTensors.ParseInferRequest(
                buffer.Span, options.Value, callDeadline.Remaining(), call.SharedMemory, ctx.CallerTenant());
        }

        var model = await ModelAsync(ctx, header.ModelName, false, token);
        var payloads = await PayloadLog.ForAsync(call.Payloads, ctx, model);
        payloads?.Write(ctx, model, "request", PayloadLog.Describe(request.Inputs));
        var version = Version(header.ModelVersion);
        // A call without a version follows the model's deployment, if it has one.
        var route = version is null ? call.Router.Route(ctx, model) : null;
        var shadows = route is null ? null : call.Shadows;
        var capture = shadows?.Capture(route, request);
        using var response = await Deployments.DeploymentRouter.WatchAsync(ctx, route, manager.InferAsync(
            model, version ?? route?.VersionText, request, v => Deployments.DeploymentRouter.SetVersionHeader(ctx, v), token)); // errors name the version too
        ctx.Usage().ReportInference(response);
        using var answer = await OutputClassification.ApplyAsync(response, classifications, manager, token);
        payloads?.Write(ctx, model, "response", PayloadLog.Describe(answer.Outputs));
        Deployments.DeploymentRouter.SetVersionHeader(ctx, response.ModelVersion);
        using (manager.Telemetry.StartEncode(answer, "v2-grpc"))
        {
            SharedMemory.SharedMemoryReference.WriteOutputs(answer, sharedMemoryOutputs);
            await GrpcTensors.WriteInferResponseAsync(
                ctx.Response.BodyWriter, answer, ModelKeys.RelativeTo(answer.ModelName, ctx.CallerTenant()), streamField: null, token, codec.Response, codec.CompressFrom,
                    sharedMemoryOutputs);
        }

        shadows?.Offer(capture, response);
    }

    // Each request message gets a response message; errors travel in error_message and the stream goes on.
    // The call was admitted as a whole; every message after the first is admitted again (revoked key, rate limits,
    // budgets), so a stream opened once cannot outrun its limits.
    private async Task StreamInferAsync(HttpContext ctx, Codec codec, CallDeadline callDeadline, CancellationToken token)
    {
        var admission = ctx.Features.Get<Auth.StreamAdmission>();

        // A stream waits for its client's next message as long as the client likes: Kestrel's minimum request body
        // data rate (240 bytes/s after 5 s) would reset it. Revoked keys and the deadline still end it.
        if (ctx.Features.Get<Microsoft.AspNetCore.Server.Kestrel.Core.Features.IHttpMinRequestBodyDataRateFeature>() is { } rate)
        {
            rate.MinDataRate = null;
        }

        var first = true;
        while (true)
        {
            InferenceRequest request;
            ModelInferRequest header;
            Dictionary<string, int> classifications;
            IReadOnlyDictionary<string, SharedMemory.SharedMemoryReference> sharedMemoryOutputs;
            using (var buffer = await GrpcFraming.ReadMessageAsync(ctx.Request.BodyReader, codec.Request, options.Value.MaxRequestBodyBytes, token))
            {
                if (buffer is null)
                {
                    return;
                }

                if (!first && admission is not null && await admission.AdmitAsync(token) is { } refusal)
                {
                    await GrpcTensors.WriteAsync(ctx.Response.BodyWriter, new ModelStreamInferResponse { ErrorMessage = refusal }, token, codec.Response, codec.CompressFrom);
                    continue;
                }

                first = false;

                try
                {
                    (header, request, classifications, sharedMemoryOutputs) = GrpcTensors.ParseInferRequest(
                        buffer.Span, options.Value, callDeadline.Remaining(), call.SharedMemory, ctx.CallerTenant());
                }
                catch (InferenceException ex)
                {
                    await GrpcTensors.WriteAsync(ctx.Response.BodyWriter, new ModelStreamInferResponse { ErrorMessage = ex.Message }, token, codec.Response, codec.CompressFrom);
                    continue;
                }
            }

            try
            {
                var model = await ModelAsync(ctx, header.ModelName, false, token);
                var payloads = await PayloadLog.ForAsync(call.Payloads, ctx, model);
                payloads?.Write(ctx, model, "request", PayloadLog.Describe(request.Inputs));
                // Each message of a stream follows the deployment on its own (its answer names the version).
                var version = Version(header.ModelVersion)
                    ?? call.Router.Route(ctx, model, recordOnCompletion: false)?.VersionText;
                using var response = await manager.InferAsync(model, version, request, token);
                ctx.Usage().ReportInference(response);
                admission?.Charge(response.ComputeTime); // the next message is checked against this one's compute
                using var answer = await OutputClassification.ApplyAsync(response, classifications, manager, token);
                payloads?.Write(ctx, model, "response", PayloadLog.Describe(answer.Outputs));
                using var encode = manager.Telemetry.StartEncode(answer, "v2-grpc");
                SharedMemory.SharedMemoryReference.WriteOutputs(answer, sharedMemoryOutputs);
                await GrpcTensors.WriteInferResponseAsync(
                    ctx.Response.BodyWriter, answer, ModelKeys.RelativeTo(answer.ModelName, ctx.CallerTenant()), streamField: 2, token, codec.Response, codec.CompressFrom,
                        sharedMemoryOutputs);
            }
            catch (InferenceException ex)
            {
                await GrpcTensors.WriteAsync(ctx.Response.BodyWriter, new ModelStreamInferResponse { ErrorMessage = ex.Message }, token, codec.Response, codec.CompressFrom);
            }
        }
    }

    private static string? Version(string? version) => string.IsNullOrEmpty(version) ? null : version;

    private static string? VersionParameter(IDictionary<string, ModelRepositoryParameter> parameters)
    {
        foreach (var name in parameters.Keys)
        {
            RepositoryParameters.CheckSupported(name);
        }

        if (!parameters.TryGetValue("version", out var p))
        {
            return null;
        }

        return p.ParameterChoiceCase switch
        {
            ModelRepositoryParameter.ParameterChoiceOneofCase.StringParam => p.StringParam,
            ModelRepositoryParameter.ParameterChoiceOneofCase.Int64Param => p.Int64Param.ToString(CultureInfo.InvariantCulture),
            _ => throw InferenceErrors.Invalid("parameter 'version' must be a string or an int64"),
        };
    }

    private ServerMetadataResponse ServerMetadata()
    {
        var response = new ServerMetadataResponse { Name = "maas", Version = V2Endpoints.ServerVersion };
        response.Extensions.Add(V2Endpoints.Extensions);
        if (call.SharedMemory.Enabled)
        {
            response.Extensions.Add(SharedMemory.SystemSharedMemoryRegistry.ExtensionName);
        }

        return response;
    }

    // Names as the caller's tenant names the model, as the infer answers do.
    private static ModelMetadataResponse Metadata(ModelDescription d, string callerTenant)
    {
        var response = new ModelMetadataResponse { Name = ModelKeys.RelativeTo(d.Name, callerTenant), Platform = d.Platform };
        response.Versions.Add(d.Versions.Select(v => v.ToString(CultureInfo.InvariantCulture)));
        foreach (var (list, target) in new[] { (d.Inputs, response.Inputs), (d.Outputs, response.Outputs) })
        {
            foreach (var t in list)
            {
                var m = new ModelMetadataResponse.Types.TensorMetadata { Name = t.Name, Datatype = t.DataType.Name() };
                m.Shape.Add(t.Shape);
                target.Add(m);
            }
        }

        return response;
    }

    private static ModelStatisticsResponse Statistics(IReadOnlyList<ModelStatisticsSnapshot> stats, string callerTenant)
    {
        static StatisticDuration D(DurationStat d) => new() { Count = (ulong)d.Count, Ns = (ulong)d.Ns };
        var response = new ModelStatisticsResponse();
        foreach (var s in stats)
        {
            var m = new ModelStatistics
            {
                Name = ModelKeys.RelativeTo(s.Name, callerTenant),
                Version = s.Version,
                LastInference = (ulong)s.LastInference,
                InferenceCount = (ulong)s.InferenceCount,
                ExecutionCount = (ulong)s.ExecutionCount,
                InferenceStats = new InferStatistics
                {
                    Success = D(s.Success),
                    Fail = D(s.Fail),
                    Queue = D(s.Queue),
                    ComputeInput = D(s.ComputeInput),
                    ComputeInfer = D(s.ComputeInfer),
                    ComputeOutput = D(s.ComputeOutput),
                    CacheHit = new StatisticDuration(),
                    CacheMiss = new StatisticDuration(),
                },
            };
            m.BatchStats.Add(s.BatchStats.Select(b => new InferBatchStatistics
            {
                BatchSize = (ulong)b.BatchSize,
                ComputeInput = D(b.ComputeInput),
                ComputeInfer = D(b.ComputeInfer),
                ComputeOutput = D(b.ComputeOutput),
            }));
            response.ModelStats.Add(m);
        }

        return response;
    }

    private static RepositoryIndexResponse Index(IReadOnlyList<ModelVersionState> states)
    {
        var response = new RepositoryIndexResponse();
        response.Models.Add(states.Select(s => new RepositoryIndexResponse.Types.ModelIndex
        {
            Name = s.Name,
            Version = s.Version.ToString(CultureInfo.InvariantCulture),
            State = s.State,
            Reason = s.Reason,
        }));
        return response;
    }

    // Resolves model_name as the caller wrote it to the model's key, which the call then uses. Another tenant's
    // private model (or one outside the key's model list) is answered like a missing one.
    private static async Task<string> ModelAsync(HttpContext ctx, string model, bool write, CancellationToken token)
    {
        var access = await ctx.CheckModelAccessAsync(model, write, token);
        switch (access.Result)
        {
            case ModelAccessResult.Hidden:
                // An inference error, so a stream reports it for this message and goes on, as for any missing model.
                throw new InferenceException(InferenceErrorKind.NotFound,
                    access.NotFoundHint ?? $"model '{RegistryNames.Shorten(ModelPatterns.ModelNameOf(model))}' does not exist");
            case ModelAccessResult.ReadOnly:
                throw new GrpcCallException(7, $"model '{RegistryNames.Shorten(ModelPatterns.ModelNameOf(model))}' is shared by another tenant: it can be read " +
                    $"and called, not changed");
            case ModelAccessResult.Missing:
                return model; // not a model reference: the manager answers it
        }

        ctx.Usage().ReportModel(access.Reference);
        return access.Reference;
    }

    // Listings of every model (all statistics, the repository index) would show other tenants' names: admins only.
    private static string? AdminOnly(HttpContext ctx) =>
        ctx.GetCaller() is { IsAdmin: false }
            ? throw new GrpcCallException(7, "listing every model needs an admin key; ask for one model by name")
            : null;

    // A call's grpc-timeout (clamped to the longest timer) and when it started; Remaining is what is left of it.
    private readonly record struct CallDeadline(TimeSpan? Timeout, long Started)
    {
        public static CallDeadline From(TimeSpan? timeout) =>
            new(timeout is { } t ? InferenceTimeouts.Clamp(t) : null, System.Diagnostics.Stopwatch.GetTimestamp());

        public TimeSpan? Remaining() => Timeout is { } t
            ? TimeSpan.FromTicks(Math.Max(0, (t - System.Diagnostics.Stopwatch.GetElapsedTime(Started)).Ticks))
            : null;
    }

    // How one call's messages are encoded: the request's (from grpc-encoding) and the response's (chosen per call).
    private readonly record struct Codec(GrpcEncoding Request, GrpcEncoding Response, long CompressFrom);

    private sealed class GrpcCallException(int status, string message) : Exception(message)
    {
        public int Status { get; } = status;
    }
}
