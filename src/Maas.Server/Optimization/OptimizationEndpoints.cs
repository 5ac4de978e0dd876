using System.Text.Json;
using Maas.Core.Jobs;
using Maas.Core.Jobs.Queue;
using Maas.Core.Registry;
using Maas.Optimization;
using Maas.Server.Auth;
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

    private static async Task<IResult> OptimizeAsync(string name, string version, HttpContext context, IModelRegistry registry, IJobQueueStore jobs, TrainingWorkers workers, TimeProvider time)
    {
        var body = await ApiRequests.ReadJsonAsync<OptimizeRequest>(context.Request, context.RequestAborted);
        var model = await registry.GetModelAsync(name, context.RequestAborted);
        var source = await registry.GetVersionAsync(name, ApiRequests.Version(version), context.RequestAborted);
        OptimizationSpec spec;
        try
        {
            spec = OptimizationRequestParser.Parse(source, body.Method, body.Options, body.Gate, body.Alias, ApiRequests.Caller(context));
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
}
