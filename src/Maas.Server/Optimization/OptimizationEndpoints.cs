using Maas.Core.Datasets;
using Maas.Core.Jobs.Queue;
using Maas.Core.Registry;
using Maas.Core.Tenancy;
using Maas.Core.Training;
using Maas.Optimization;
using Maas.Optimization.Onnx;
using Maas.Server.Auth;
using Maas.Server.Datasets;
using Maas.Server.Errors;
using Maas.Server.Jobs;
using Maas.Server.Registry;
using Maas.Server.Training;
using Microsoft.Extensions.Options;

namespace Maas.Server.Optimization;

/// <summary>
/// <c>:optimize</c>: checked here against the source version, queued, run by a job worker, read at /api/v1/jobs/{id}.
/// <c>:force-serve</c>: an administrator's choice to serve a rejected version anyway, kept in its optimisation record and audited.
/// </summary>
internal static class OptimizationEndpoints
{
    /// <summary>The longest reason a force may carry.</summary>
    public const int MaxReasonLength = 500;

    public static void Map(RouteGroupBuilder api)
    {
        api.MapPost("/models/{name}/versions/{version}:optimize", OptimizeAsync);
        api.MapPost("/models/{name}/versions/{version}:force-serve", ForceServeAsync).RequireScope(MaasScopes.Admin).WithAuditAction("versions.force_serve");
    }

    private static async Task<IResult> ForceServeAsync(string name, string version, HttpContext context, IModelRegistry registry, TimeProvider time)
    {
        var body = await ApiRequests.ReadJsonAsync<ForceServeRequest>(context.Request, context.RequestAborted);
        if (body.Reason is { Length: > MaxReasonLength })
        {
            throw new ApiException(StatusCodes.Status400BadRequest, "invalid_reason", $"reason may have at most {MaxReasonLength} characters, not {body.Reason.Length}");
        }

        var found = await registry.GetVersionAsync(name, ApiRequests.Version(version), context.RequestAborted);
        if (!OptimizationMetadata.IsRejected(found))
        {
            throw new ApiException(StatusCodes.Status409Conflict, "version_not_rejected",
                $"version {found.Version} of '{RegistryNames.Shorten(name)}' was not rejected by an optimisation gate; it is served as it is");
        }

        var serve = body.Serve ?? true;
        var forced = serve
            ? new Dictionary<string, object?> { ["by"] = ApiRequests.Caller(context), ["at"] = time.GetUtcNow(), ["reason"] = body.Reason }
            : null;
        var updated = await registry.SetVersionMetadataAsync(found.Model, found.Version, OptimizationMetadata.Key, OptimizationMetadata.WithForced(found, forced),
            context.RequestAborted);
        return Results.Json(await VersionEndpoints.WrittenResponseAsync(context, registry, updated), RegistryJson.Options);
    }

    private static async Task<IResult> OptimizeAsync(string name, string version, HttpContext context, IModelRegistry registry, IJobQueueStore jobs, TrainingWorkers workers,
        JobSubmissionGate gate, IOptions<TrainingOptions> training, DatasetCatalog datasets, TimeProvider time)
    {
        var body = await ApiRequests.ReadJsonAsync<OptimizeRequest>(context.Request, context.RequestAborted);
        var model = await registry.GetModelAsync(name, context.RequestAborted);
        var source = await registry.GetVersionAsync(name, ApiRequests.Version(version), context.RequestAborted);
        OptimizationSpec spec;
        try
        {
            spec = OptimizationRequestParser.Parse(source, body.Method, body.Options, body.Gate, body.Alias, ApiRequests.Caller(context));
            if (source.Format == Maas.Core.Formats.ModelFormat.Onnx)
            {
                OptimizationApplicability.Check(spec, source, await registry.GetLocalArtifactPathAsync(source, context.RequestAborted));
            }

            if (spec.CalibrationReference is { } reference)
            {
                spec = CalibrationData.Resolve(spec, await DatasetAsync(reference, "calibration", context, datasets), source);
            }

            // The label, image column and split the request leaves out come from the source's training record, which a
            // version an earlier optimisation derived keeps only in the version it derives from.
            var trained = spec.FineTune is null && spec.Evaluation is null ? null : (await TrainedVersion.FindAsync(registry, source, context.RequestAborted)).Holder;
            if (spec.FineTune is { } fineTune)
            {
                spec = spec with { FineTune = fineTune.Resolve(await DatasetAsync(fineTune.Reference, "fine_tune.dataset", context, datasets), source, trained) };
            }

            if (spec.Evaluation is { } evaluation)
            {
                spec = spec with { Evaluation = evaluation.Resolve(await DatasetAsync(evaluation.Reference, "evaluation.dataset", context, datasets), source, trained) };
            }

            if (spec.ImatrixReference is { } text and not OptimizationRequestParser.BuiltInText)
            {
                var texts = await DatasetAsync(text, "imatrix", context, datasets);
                spec = spec with { ImatrixDataset = new DatasetReference(texts.Dataset, texts.Version, texts.Sha256), ImatrixColumn = TextColumn(texts, spec.ImatrixColumn) };
            }
        }
        catch (OptimizationRequestException e)
        {
            throw new ApiException(StatusCodes.Status400BadRequest, e.Code, e.Message);
        }

        var now = time.GetUtcNow();

        // The model's owner: the only tenant that may change it (the auth layer checked the caller).
        using var turn = await gate.EnterAsync(jobs, training.Value, model.Owner, context.RequestAborted);
        var job = await JobSubmission.EnqueueAsync(jobs, workers, training.Value, "opt_", OptimizationSpec.Kind, model.Owner, spec, spec.CreatedBy, now, context.RequestAborted);
        var response = QueuedJobResponse.From(job, context.CallerTenant());
        context.Response.Headers.Location = response.Url;
        return Results.Json(response, RegistryJson.Options, statusCode: StatusCodes.Status202Accepted);
    }

    // A dataset version named by options.<option>, which the caller must be allowed to read.
    private static async Task<DatasetVersion> DatasetAsync(string reference, string option, HttpContext context, DatasetCatalog datasets)
    {
        var (name, number) = OptimizationRequestParser.DatasetReference(reference, option);

        // Calibrating, fine-tuning or evaluating reads the dataset, so the key must be allowed to read datasets as well as to write models.
        if (context.GetCaller() is { } caller && !caller.Has(MaasScopes.DatasetsRead))
        {
            throw new ApiException(StatusCodes.Status403Forbidden, "insufficient_scope",
                $"options.{option} reads a dataset, which needs the scope {MaasScopes.DatasetsRead}; the key has {string.Join(", ", caller.Scopes)}");
        }

        DatasetVersion version;
        try
        {
            await DatasetEndpoints.VisibleAsync(name, context, datasets);
            version = await datasets.GetVersionAsync(name, number, context.RequestAborted);
        }
        catch (ApiException e) when (e.Status == StatusCodes.Status404NotFound)
        {
            throw new ApiException(StatusCodes.Status400BadRequest, "dataset_not_found", $"options.{option}: {e.Message}");
        }
        catch (RegistryException e) when (e.Kind is RegistryErrorKind.NotFound or RegistryErrorKind.Invalid)
        {
            // A missing version is dataset_version_not_found, as a training job answers it; a missing dataset dataset_not_found.
            throw new ApiException(StatusCodes.Status400BadRequest, e.Kind == RegistryErrorKind.NotFound ? e.Code : "invalid_calibration", $"options.{option}: {e.Message}");
        }

        return version;
    }

    // The text column an importance matrix reads: the one named, or the dataset's only text column.
    private static string TextColumn(DatasetVersion version, string? requested)
    {
        var texts = version.Schema.Where(c => c.Type == DatasetColumnType.String).Select(c => c.Name).ToArray();
        var label = $"{version.Dataset}:{version.Version}";
        if (requested is not null)
        {
            return texts.Contains(requested, StringComparer.Ordinal) ? requested
                : throw new OptimizationRequestException("invalid_calibration",
                    $"options.imatrix_column '{RegistryNames.Shorten(requested)}' is not a text column of {label} (its text columns: {RegistryNames.FirstOf(texts)})");
        }

        return texts.Length == 1 ? texts[0]
            : throw new OptimizationRequestException("invalid_calibration",
                $"{label} has {texts.Length} text columns; name the one to read with options.imatrix_column ({RegistryNames.FirstOf(texts)})");
    }
}
