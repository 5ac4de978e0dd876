using System.Text.Json;
using Maas.Core.Jobs;
using Maas.Core.Jobs.Queue;
using Maas.Core.Registry;
using Maas.Core.Tenancy;
using Maas.Server.Auth;
using Maas.Server.Errors;
using Maas.Server.Registry;

namespace Maas.Server.Jobs;

/// <summary>Background jobs (imports, and the worker-run training, optimisation and fine-tuning jobs): progress, outcome, cancellation; each caller sees its own tenant's jobs
/// (admins all).</summary>
public static class JobEndpoints
{
    /// <summary>Maps /jobs routes onto the API group.</summary>
    public static RouteGroupBuilder MapMaasJobs(this RouteGroupBuilder api)
    {
        // A key with the training scopes reaches its training and fine-tuning jobs here too; each job is then held to
        // the scope of its own kind (ScopesOf), so models:write cannot cancel a training job nor models:read read one.
        api.MapGet("/jobs", ListAsync).RequireScope(MaasScopes.ModelsRead, MaasScopes.TrainingRead);
        api.MapGet("/jobs/{id}", GetAsync).RequireScope(MaasScopes.ModelsRead, MaasScopes.TrainingRead);
        api.MapDelete("/jobs/{id}", CancelAsync).RequireScope(MaasScopes.ModelsWrite, MaasScopes.TrainingWrite);
        api.MapGet("/jobs/{id}/events", EventsAsync).RequireScope(MaasScopes.ModelsRead, MaasScopes.TrainingRead);
        return api;
    }

    // Imports and optimisations change models, evaluations read them (models:*); training, its search trials and fine-tuning are training:*,
    // as on their own routes.
    private static string ScopeOf(string kind, bool write) => kind is "import" or "optimization" or "evaluation"
        ? (write ? MaasScopes.ModelsWrite : MaasScopes.ModelsRead)
        : (write ? MaasScopes.TrainingWrite : MaasScopes.TrainingRead);

    private static bool HasScopeFor(Caller? caller, string kind, bool write) => caller is null || caller.Has(ScopeOf(kind, write));

    private static void RequireScopeFor(HttpContext context, string kind, bool write)
    {
        var caller = context.GetCaller();
        if (!HasScopeFor(caller, kind, write))
        {
            var scope = ScopeOf(kind, write);
            throw new ApiException(
                StatusCodes.Status403Forbidden,
                "insufficient_scope",
                $"{(write ? "cancelling" : "reading")} a {kind} job needs the scope {scope}; the key has " +
                $"{(caller!.Scopes.Count == 0 ? "none" : string.Join(", ", caller.Scopes))}");
        }
    }

    // Worker-run kinds listed beside the imports (a search's trials are listed under their parent's training job).
    private static readonly string[] QueuedKinds = ["training", "optimization", "fine-tune", "evaluation"];

    // Rounds a page reads past jobs the key may not see (of models outside its list) before it answers with fewer jobs
    // than asked for and a next_before to go on from.
    private const int MaxListRounds = 4;

    // Newest first across every source, a page at a time: ?before= takes the next_before of the page before it.
    private static async Task<IResult> ListAsync(HttpContext context, JobRunner jobs, IJobQueueStore store)
    {
        var limit = ApiRequests.OptionalInt(context.Request.Query["limit"], "limit") ?? 100;
        if (limit is < 1 or > 1000)
        {
            throw new ApiException(StatusCodes.Status400BadRequest, "invalid_query", $"limit must be between 1 and 1000, not {limit}");
        }

        var kind = context.Request.Query["kind"].ToString();
        if (kind.Length > 0 && kind != "import" && !QueuedKinds.Contains(kind))
        {
            throw new ApiException(StatusCodes.Status400BadRequest, "invalid_query", $"kind must be import, {string.Join(", ", QueuedKinds)}, not '{RegistryNames.Shorten(kind)}'");
        }

        var before = Before(context.Request.Query["before"].ToString());
        var caller = context.GetCaller();
        var tenant = caller is null || caller.IsAdmin ? null : caller.Tenant;
        var callerTenant = context.CallerTenant();
        var aborted = context.RequestAborted;
        var sources = new List<JobPageSource<object>>();
        if ((kind.Length == 0 || kind == "import") && HasScopeFor(caller, "import", write: false))
        {
            sources.Add(async (after, count) => (await jobs.ListAsync(count, tenant, after, aborted))
                .Select(j => new ListedJob<object>(JobPosition.Of(j), Visible(caller, j) ? JobResponse.From(j, callerTenant) : null))
                .ToArray());
        }

        // Training, optimisation and fine-tuning jobs too, so one list shows every job the caller has.
        foreach (var queuedKind in QueuedKinds.Where(k => (kind.Length == 0 || k == kind) && HasScopeFor(caller, k, write: false)))
        {
            sources.Add(QueuedSource<object>(store, queuedKind, tenant, j => VisibleQueued(caller, j) ? QueuedJobResponse.From(j, callerTenant) : null, aborted));
        }

        var page = await JobPages.ReadAsync(sources, before, limit, MaxListRounds);
        return Results.Json(new { jobs = page.Jobs, next_before = page.Next?.ToString() }, RegistryJson.Options);
    }

    /// <summary>A list's <c>before</c> (the <c>next_before</c> of an earlier page), null when not given; 400 invalid_query otherwise.</summary>
    internal static JobPosition? Before(string text)
    {
        if (text.Length == 0)
        {
            return null;
        }

        return JobPosition.TryParse(text, out var position)
            ? position
            : throw new ApiException(
                StatusCodes.Status400BadRequest,
                "invalid_query",
                $"before must be the next_before of an earlier page (milliseconds.id), not '{RegistryNames.Shorten(text)}'");
    }

    private static async Task<IResult> GetAsync(string id, HttpContext context, JobRunner jobs, IJobQueueStore store)
    {
        // Worker-run jobs (optimisation, training...) live in the job queue; the same URL shows them.
        if (await QueuedAsync(id, context, store) is { } queued)
        {
            RequireScopeFor(context, queued.Kind, write: false);
            return Results.Json(QueuedJobResponse.From(queued, context.CallerTenant()), RegistryJson.Options);
        }

        var job = await FindAsync(id, context, jobs);
        RequireScopeFor(context, job.Kind, write: false);
        return Results.Json(JobResponse.From(job, context.CallerTenant()), RegistryJson.Options);
    }

    private static async Task<IResult> CancelAsync(string id, HttpContext context, JobRunner jobs, IJobQueueStore store)
    {
        if (await QueuedAsync(id, context, store) is { } queued)
        {
            RequireScopeFor(context, queued.Kind, write: true);
            var now = DateTimeOffset.UtcNow;
            var after = await JobCancellation.RequestAsync(store, queued, now, JobCancellation.Conflict, context.RequestAborted);
            await store.AddEventAsync(id, "cancel_requested", JsonSerializer.Serialize(new { by = ApiRequests.Caller(context) }, RegistryJson.Options), now,
                CancellationToken.None);
            return Results.Json(QueuedJobResponse.From(after, context.CallerTenant()), RegistryJson.Options, statusCode: StatusCodes.Status202Accepted);
        }

        var job = await FindAsync(id, context, jobs);
        RequireScopeFor(context, job.Kind, write: true);
        var ended = await JobCancellation.CancelImportAsync(jobs, job, context.RequestAborted);
        return Results.Json(JobResponse.From(ended, context.CallerTenant()), RegistryJson.Options);
    }

    // A job's events, oldest first, a page at a time (?after=seq&limit=n). Imports keep no event log (their state is
    // the job itself): theirs is an empty page, not the 404 "does not exist" it was, for a job GET /jobs/{id} shows.
    private static async Task<IResult> EventsAsync(string id, HttpContext context, JobRunner jobs, IJobQueueStore store)
    {
        var job = await QueuedAsync(id, context, store);
        if (job is null)
        {
            var import = await FindAsync(id, context, jobs);
            RequireScopeFor(context, import.Kind, write: false);
            var (importAfter, _) = EventsPage(context);
            return Results.Json(new { events = Array.Empty<object>(), next_after = importAfter, finished = import.IsFinished }, RegistryJson.Options);
        }

        RequireScopeFor(context, job.Kind, write: false);
        var (after, limit) = EventsPage(context);
        var page = await store.ListEventsAsync(id, after, limit, context.RequestAborted);
        var events = page.Select(e =>
        {
            using var document = JsonDocument.Parse(e.Data);
            return new { seq = e.Seq, at = e.At, type = e.Type, data = document.RootElement.Clone() };
        }).ToArray();
        return Results.Json(new { events, next_after = page.Count > 0 ? page[^1].Seq : after, finished = job.IsFinished }, RegistryJson.Options);
    }

    private static (long After, int Limit) EventsPage(HttpContext context)
    {
        var after = ApiRequests.OptionalLong(context.Request.Query["after"], "after") ?? 0;
        var limit = ApiRequests.OptionalInt(context.Request.Query["limit"], "limit") ?? 100;
        if (limit is < 1 or > 1000 || after < 0)
        {
            throw new ApiException(StatusCodes.Status400BadRequest, "invalid_query", $"limit must be between 1 and 1000 and after not negative (given {limit} and {after})");
        }

        return (after, limit);
    }

    // A job of the worker queue this caller may see, or null (no such job, or another tenant's).
    private static async Task<QueuedJob?> QueuedAsync(string id, HttpContext context, IJobQueueStore store)
    {
        if (await store.GetAsync(id, context.RequestAborted) is not { } job)
        {
            return null;
        }

        return VisibleQueued(context.GetCaller(), job) ? job : null;
    }

    /// <summary>
    /// A page of one worker-run kind, read as this route reads each of its sources (<see cref="JobPages"/>): the
    /// tenant's jobs (all for null) in the list's order after <paramref name="before"/>, those <paramref name="visible"/>
    /// refuses passed over; the training and fine-tuning lists page with it.
    /// </summary>
    internal static Task<JobPage<QueuedJob>> QueuedPageAsync(
        IJobQueueStore store, string kind, string? tenant, Func<QueuedJob, bool> visible, JobPosition? before, int limit, CancellationToken cancellationToken) =>
        JobPages.ReadAsync<QueuedJob>([QueuedSource<QueuedJob>(store, kind, tenant, j => visible(j) ? j : null, cancellationToken)], before, limit, MaxListRounds);

    // The jobs of one worker-run kind as a source of a page: each at its place in the list, shown as `shown` makes it
    // (null: passed over).
    private static JobPageSource<T> QueuedSource<T>(IJobQueueStore store, string kind, string? tenant, Func<QueuedJob, T?> shown, CancellationToken cancellationToken)
        where T : class =>
        async (after, count) => (await store.ListBeforeAsync(kind, tenant, after, count, cancellationToken))
            .Select(j => new ListedJob<T>(JobPosition.Of(j), shown(j)))
            .ToArray();

    // A queued job is the caller's when it is of the caller's tenant and of a model the key may use (any, for a job of
    // no model); the training routes narrow by the same rule.
    internal static bool VisibleQueued(Caller? caller, QueuedJob job)
    {
        var model = QueuedJobResponse.Subject(job.Spec).Model;
        return caller is null || caller.IsAdmin || (caller.Tenant == job.Tenant && (model is null || ModelPatterns.Allows(caller.Models, model)));
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
