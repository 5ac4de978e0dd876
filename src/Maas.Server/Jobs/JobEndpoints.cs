using Maas.Core.Jobs;
using Maas.Core.Registry;
using Maas.Server.Errors;
using Maas.Server.Registry;

namespace Maas.Server.Jobs;

/// <summary>Background jobs (imports): progress, outcome, cancellation.</summary>
public static class JobEndpoints
{
    /// <summary>Maps /jobs routes onto the API group.</summary>
    public static RouteGroupBuilder MapMaasJobs(this RouteGroupBuilder api)
    {
        api.MapGet("/jobs", ListAsync);
        api.MapGet("/jobs/{id}", GetAsync);
        api.MapDelete("/jobs/{id}", CancelAsync);
        return api;
    }

    private static async Task<IResult> ListAsync(HttpContext context, JobRunner jobs)
    {
        var limit = ApiRequests.OptionalInt(context.Request.Query["limit"], "limit") ?? 100;
        if (limit is < 1 or > 1000)
        {
            throw new ApiException(StatusCodes.Status400BadRequest, "invalid_query", $"limit must be between 1 and 1000, not {limit}");
        }

        var list = await jobs.ListAsync(limit, context.RequestAborted);
        return Results.Json(new { jobs = list.Select(JobResponse.From).ToArray() }, RegistryJson.Options);
    }

    private static async Task<IResult> GetAsync(string id, HttpContext context, JobRunner jobs)
    {
        var job = await jobs.GetAsync(id, context.RequestAborted) ?? throw NotFound(id);
        return Results.Json(JobResponse.From(job), RegistryJson.Options);
    }

    private static async Task<IResult> CancelAsync(string id, HttpContext context, JobRunner jobs)
    {
        var job = await jobs.GetAsync(id, context.RequestAborted) ?? throw NotFound(id);
        if (job.IsFinished)
        {
            throw new ApiException(StatusCodes.Status409Conflict, "job_finished", $"job '{id}' already ended ({job.Status.ToString().ToLowerInvariant()})");
        }

        jobs.Cancel(id);
        await jobs.WaitAsync(id);
        var ended = await jobs.GetAsync(id, context.RequestAborted) ?? job;
        return Results.Json(JobResponse.From(ended), RegistryJson.Options);
    }

    private static ApiException NotFound(string id) =>
        new(StatusCodes.Status404NotFound, "job_not_found", $"job '{RegistryNames.Shorten(id)}' does not exist");
}
