using Maas.Core.Jobs;
using Maas.Core.Registry;
using Maas.Core.Tenancy;
using Maas.Server.Auth;
using Maas.Server.Errors;
using Maas.Server.Registry;

namespace Maas.Server.Jobs;

/// <summary>Background jobs (imports): progress, outcome, cancellation; each caller sees its own tenant's jobs (admins all).</summary>
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

        var caller = context.GetCaller();
        var tenant = caller is null || caller.IsAdmin ? null : caller.Tenant;
        var list = await jobs.ListAsync(limit, tenant, context.RequestAborted);
        return Results.Json(new { jobs = list.Where(j => Visible(caller, j)).Select(j => JobResponse.From(j, context.CallerTenant())).ToArray() }, RegistryJson.Options);
    }

    private static async Task<IResult> GetAsync(string id, HttpContext context, JobRunner jobs)
    {
        var job = await FindAsync(id, context, jobs);
        return Results.Json(JobResponse.From(job, context.CallerTenant()), RegistryJson.Options);
    }

    private static async Task<IResult> CancelAsync(string id, HttpContext context, JobRunner jobs)
    {
        var job = await FindAsync(id, context, jobs);
        if (job.IsFinished)
        {
            throw new ApiException(StatusCodes.Status409Conflict, "job_finished", $"job '{id}' already ended ({job.Status.ToString().ToLowerInvariant()})");
        }

        jobs.Cancel(id);
        await jobs.WaitAsync(id);
        var ended = await jobs.GetAsync(id, context.RequestAborted) ?? job;
        return Results.Json(JobResponse.From(ended, context.CallerTenant()), RegistryJson.Options);
    }

    // Another tenant's job answers exactly like a job that does not exist.
    private static async Task<Job> FindAsync(string id, HttpContext context, JobRunner jobs) =>
        await jobs.GetAsync(id, context.RequestAborted) is { } job && Visible(context.GetCaller(), job) ? job : throw NotFound(id);

    private static bool Visible(Caller? caller, Job job) =>
        caller is null || caller.IsAdmin
        || (string.Equals(job.Tenant, caller.Tenant, StringComparison.Ordinal) && (job.Model is null || ModelPatterns.Allows(caller.Models, job.Model)));

    private static ApiException NotFound(string id) =>
        new(StatusCodes.Status404NotFound, "job_not_found", $"job '{RegistryNames.Shorten(id)}' does not exist");
}
