using System.Text.Json;
using Maas.Core.Datasets;
using Maas.Core.Jobs;
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

namespace Maas.Server.Optimization;

/// <summary>POST /api/v1/models/{name}/versions/{n}:optimize.</summary>
public sealed record OptimizeRequest(string? Method, JsonElement? Options, JsonElement? Gate, string? Alias);

/// <summary><c>:optimize</c>: checked here against the source version, queued, run by a job worker, read at /api/v1/jobs/{id}.</summary>
internal static class OptimizationEndpoints
{
    public static void Map(RouteGroupBuilder api) => api.MapPost("/models/{name}/versions/{version}:optimize", OptimizeAsync);

    private static async Task<IResult> OptimizeAsync(string name, string version, HttpContext context, IModelRegistry registry, IJobQueueStore jobs, TrainingWorkers workers, DatasetCatalog datasets, TimeProvider time)
    {
        var body = await ApiRequests.ReadJsonAsync<OptimizeRequest>(context.Request, context.RequestAborted);
        var model = await registry.GetModelAsync(name, context.RequestAborted);
        var source = await registry.GetVersionAsync(name, ApiRequests.Version(version), context.RequestAborted);
        OptimizationSpec spec;
        try
        {
            spec = OptimizationRequestParser.Parse(source, body.Method, body.Options, body.Gate, body.Alias, ApiRequests.Caller(context));
            if (spec.CalibrationReference is { } reference)
            {
                spec = await ResolveCalibrationAsync(spec, reference, source, context, datasets);
            }
        }
        catch (OptimizationRequestException e)
        {
            throw new ApiException(StatusCodes.Status400BadRequest, e.Code, e.Message);
        }

        var now = time.GetUtcNow();

        // The model's owner: the only tenant that may change it (the auth layer checked the caller).
        var job = await JobSubmission.EnqueueAsync(jobs, workers, "opt_", OptimizationSpec.Kind, model.Owner, spec, spec.CreatedBy, now, context.RequestAborted);
        var response = QueuedJobResponse.From(job, context.CallerTenant());
        context.Response.Headers.Location = response.Url;
        return Results.Json(response, RegistryJson.Options, statusCode: StatusCodes.Status202Accepted);
    }

    // The calibration dataset must be one the caller may read, with number columns that fill the model's input.
    private static async Task<OptimizationSpec> ResolveCalibrationAsync(OptimizationSpec spec, string reference, ModelVersion source, HttpContext context, DatasetCatalog datasets)
    {
        var (name, number) = OptimizationRequestParser.DatasetReference(reference);

        // Calibrating reads the dataset, so the key must be allowed to read datasets as well as to write models.
        if (context.GetCaller() is { } caller && !caller.Has(MaasScopes.DatasetsRead))
        {
            throw new ApiException(StatusCodes.Status403Forbidden, "insufficient_scope", $"options.calibration reads a dataset, which needs the scope {MaasScopes.DatasetsRead}; the key has {string.Join(", ", caller.Scopes)}");
        }

        DatasetVersion version;
        try
        {
            await DatasetEndpoints.VisibleAsync(name, context, datasets);
            version = await datasets.GetVersionAsync(name, number, context.RequestAborted);
        }
        catch (ApiException e) when (e.Status == StatusCodes.Status404NotFound)
        {
            throw new ApiException(StatusCodes.Status400BadRequest, "dataset_not_found", $"options.calibration: {e.Message}");
        }
        catch (RegistryException e) when (e.Kind is RegistryErrorKind.NotFound or RegistryErrorKind.Invalid)
        {
            throw new ApiException(StatusCodes.Status400BadRequest, e.Kind == RegistryErrorKind.NotFound ? "dataset_not_found" : "invalid_calibration", $"options.calibration: {e.Message}");
        }

        var columns = CalibrationData.Columns(version, spec.CalibrationColumns, CalibrationData.InputShape(source));
        return spec with { Calibration = new DatasetReference(version.Dataset, version.Version, version.Sha256), CalibrationColumns = columns };
    }
}
