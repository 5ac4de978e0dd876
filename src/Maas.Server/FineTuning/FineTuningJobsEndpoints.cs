using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json;
using Maas.Core.FineTuning;
using Maas.Core.Formats;
using Maas.Core.Jobs;
using Maas.Core.Jobs.Queue;
using Maas.Core.Registry;
using Maas.Core.Tenancy;
using Maas.Core.Training;
using Maas.Runtimes.Llama.Training;
using Maas.Server.Auth;
using Maas.Server.Registry;
using Maas.Server.Training;
using Microsoft.Extensions.Options;

namespace Maas.Server.FineTuning;

/// <summary>OpenAI's fine-tuning jobs API on the job queue: create (checked here, trained by a worker), list, show, cancel, events, checkpoints.</summary>
internal static class FineTuningJobsEndpoints
{
    private const int MaxSuffixLength = 40;
    private const int MaxBatchSize = 256;
    private const double MaxLearningRateMultiplier = 1000;

    // The fields of a create request this server reads; integrations and metadata (OpenAI's) are accepted only empty.
    private static readonly string[] BodyFields = ["model", "training_file", "validation_file", "suffix", "seed", "hyperparameters", "method", "integrations", "metadata"];

    // OpenAI's supervised hyperparameters and MaaS's own train_last_layers.
    private static readonly string[] HyperparameterNames = ["n_epochs", "batch_size", "learning_rate_multiplier", "train_last_layers"];

    public static void Map(RouteGroupBuilder v1)
    {
        v1.MapPost("/fine_tuning/jobs", CreateAsync).RequireScope(MaasScopes.TrainingWrite);
        v1.MapGet("/fine_tuning/jobs", ListAsync).RequireScope(MaasScopes.TrainingRead);
        v1.MapGet("/fine_tuning/jobs/{id}", GetAsync).RequireScope(MaasScopes.TrainingRead);
        v1.MapPost("/fine_tuning/jobs/{id}/cancel", CancelAsync).RequireScope(MaasScopes.TrainingWrite);
        v1.MapGet("/fine_tuning/jobs/{id}/events", EventsAsync).RequireScope(MaasScopes.TrainingRead);
        v1.MapGet("/fine_tuning/jobs/{id}/checkpoints", CheckpointsAsync).RequireScope(MaasScopes.TrainingRead);
    }

    private static OpenAiApiError Bad(string message, string? param, string code) => OpenAiApiError.Invalid(message, param, code);

    private static async Task<IResult> CreateAsync(
        HttpContext context, IFineTuningFileStore files, IModelRegistry registry, IJobQueueStore jobs, TrainingWorkers workers, Jobs.JobSubmissionGate gate,
        IOptions<FineTuningOptions> options, IOptions<TrainingOptions> trainingOptions, IOptions<ApiOptions> api, TimeProvider time)
    {
        var o = options.Value;
        JsonElement body;
        using (var document = await ReadBodyAsync(context, api.Value))
        {
            body = document.RootElement.Clone();
        }

        if (body.ValueKind != JsonValueKind.Object)
        {
            throw Bad("the body must be a JSON object", null, "invalid_request");
        }

        CheckFields(body);
        var model = String(body, "model") ?? throw Bad("model is required: the base model to fine-tune", "model", "missing_model");
        var trainingId = String(body, "training_file") ??
            throw Bad("training_file is required: the id of a file uploaded with purpose 'fine-tune'", "training_file", "missing_training_file");
        var validationId = String(body, "validation_file");
        var suffix = String(body, "suffix");
        if (suffix is not null && (suffix.Length is 0 or > MaxSuffixLength || !RegistryNames.IsValidName(suffix)))
        {
            throw Bad($"suffix must be 1 to {MaxSuffixLength} characters from a-z, 0-9, '.', '_' and '-', starting with a letter or digit", "suffix", "invalid_suffix");
        }

        var seed = body.TryGetProperty("seed", out var seedValue) && seedValue.ValueKind != JsonValueKind.Null
            ? seedValue.ValueKind == JsonValueKind.Number && seedValue.TryGetInt32(out var s) &&
                s >= 0 ? s : throw Bad("seed must be an integer from 0 to 2147483647", "seed", "invalid_seed")
            : RandomNumberGenerator.GetInt32(int.MaxValue);

        var hyper = HyperparametersOf(body);
        var epochs = Hyper(hyper, "n_epochs", 1, o.MaxEpochs, integer: true) is { } e ? (int)e : o.DefaultEpochs;
        var batch = Hyper(hyper, "batch_size", 1, MaxBatchSize, integer: true) is { } b ? (int?)b : null;
        var multiplier = Hyper(hyper, "learning_rate_multiplier", double.Epsilon, MaxLearningRateMultiplier, integer: false) ?? 1.0;
        // MaaS's own: train only the last N transformer layers (less memory for optimizer state); "auto" trains all.
        var trainedLayers = Hyper(hyper, "train_last_layers", 1, MaxTrainedLayers, integer: true) is { } l ? (int?)l : null;
        if (multiplier * o.LearningRate > 1)
        {
            throw Bad($"learning_rate_multiplier {multiplier} gives a learning rate above 1 (the base rate is {o.LearningRate})", "hyperparameters.learning_rate_multiplier",
                "invalid_hyperparameters");
        }

        // The files: the caller's own, uploaded for fine-tuning.
        var training = await FilesEndpoints.VisibleAsync(trainingId, context, files, "training_file");
        var validation = validationId is null ? null : await FilesEndpoints.VisibleAsync(validationId, context, files, "validation_file");
        foreach (var (file, param) in new[] { (training, "training_file"), (validation, "validation_file") })
        {
            if (file is not null && file.Purpose != FilesEndpoints.FineTunePurpose)
            {
                throw Bad($"{param} {file.Id} was uploaded with purpose '{file.Purpose}', not 'fine-tune'", param, "invalid_file_purpose");
            }
        }

        var resolved = await ResolveBaseAsync(context, registry, model);
        var tenant = context.CallerTenant();
        var targetKey = await TargetAsync(context, registry, resolved, suffix, tenant);
        var spec = new FineTuningSpec
        {
            Model = model,
            BaseModel = resolved.Model.Key,
            BaseVersion = resolved.Version.Version,
            TrainingFile = training.Id,
            TrainingSha256 = training.Sha256,
            ValidationFile = validation?.Id,
            ValidationSha256 = validation?.Sha256,
            Epochs = epochs,
            BatchSize = batch,
            TrainedLayers = trainedLayers,
            LearningRateMultiplier = multiplier,
            LearningRate = multiplier * o.LearningRate,
            Suffix = suffix,
            Seed = seed,
            TargetModel = targetKey,
            Window = o.Window,
            CreatedBy = ApiRequests.Caller(context),
        };
        using var turn = await gate.EnterAsync(jobs, trainingOptions.Value, tenant, context.RequestAborted);
        var job = await EnqueueAsync(jobs, workers, trainingOptions.Value, spec, tenant, time.GetUtcNow());
        return Results.Json(FineTuningViews.Job(job));
    }

    // Queues the job with its first event in the same write (a worker that takes the job at once must not log
    // "running" first), if the tenant has room under the job limit, and wakes this process's workers.
    private static async Task<QueuedJob> EnqueueAsync(IJobQueueStore jobs, TrainingWorkers workers, TrainingOptions training, FineTuningSpec spec, string tenant,
        DateTimeOffset now)
    {
        var job = new QueuedJob
        {
            Id = "ftjob-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(12)),
            Kind = FineTuningSpec.Kind,
            Tenant = tenant,
            Status = JobStatus.Queued,
            Spec = JsonSerializer.Serialize(spec, RegistryJson.Options),
            CreatedBy = spec.CreatedBy,
            CreatedAt = now,
            UpdatedAt = now,
        };
        await Jobs.JobSubmission.EnqueueAsync(jobs, training, job, FineTuningJobHandler.MessageEventType,
            JsonSerializer.Serialize(new { message = "Created fine-tuning job" }, RegistryJson.Options), CancellationToken.None);
        workers.Nudge();
        return job;
    }

    // A misspelt field ("sufix", "validation-file") would otherwise be dropped without a word, and OpenAI's
    // integrations and metadata would be accepted and then not be there: refused, naming the field.
    private static void CheckFields(JsonElement body)
    {
        foreach (var property in body.EnumerateObject())
        {
            if (!BodyFields.Contains(property.Name, StringComparer.Ordinal))
            {
                throw Bad(
                    $"unrecognized request argument '{RegistryNames.Shorten(property.Name)}'; a fine-tuning job takes {string.Join(", ", BodyFields)}",
                    RegistryNames.Shorten(property.Name),
                    "unknown_parameter");
            }

            if (property.Name is "integrations" or "metadata"
                && property.Value.ValueKind is not JsonValueKind.Null
                && !(property.Value.ValueKind == JsonValueKind.Array && property.Value.GetArrayLength() == 0)
                && !(property.Value.ValueKind == JsonValueKind.Object && !property.Value.EnumerateObject().Any()))
            {
                throw Bad($"{property.Name} is not supported by this server: leave it out (or empty)", property.Name, "unsupported_parameter");
            }
        }
    }

    // Hyperparameters come at the top level (older clients) or in method.supervised (newer ones), not both.
    private static JsonElement HyperparametersOf(JsonElement body)
    {
        var hyper = body.TryGetProperty("hyperparameters", out var h) ? h : default;
        if (body.TryGetProperty("method", out var method) && method.ValueKind != JsonValueKind.Null)
        {
            if (method.ValueKind != JsonValueKind.Object)
            {
                throw Bad($"method must be an object such as {{\"type\": \"supervised\"}}, not {RegistryNames.Shorten(method.GetRawText())}", "method", "invalid_method");
            }

            var type = String(method, "type");
            if (type is not null and not "supervised")
            {
                throw Bad($"method.type '{RegistryNames.Shorten(type)}' is not available: this server fine-tunes with supervised learning only", "method.type",
                    "unsupported_method");
            }

            if (method.TryGetProperty("supervised", out var supervised) && supervised.ValueKind != JsonValueKind.Null)
            {
                if (supervised.ValueKind != JsonValueKind.Object)
                {
                    throw Bad($"method.supervised must be an object, not {RegistryNames.Shorten(supervised.GetRawText())}", "method.supervised", "invalid_method");
                }

                if (supervised.TryGetProperty("hyperparameters", out var sh) && sh.ValueKind != JsonValueKind.Null)
                {
                    if (hyper.ValueKind is not (JsonValueKind.Undefined or JsonValueKind.Null))
                    {
                        throw Bad(
                            "hyperparameters are given both at the top level and in method.supervised.hyperparameters; give them in one place",
                            "method.supervised.hyperparameters",
                            "invalid_hyperparameters");
                    }

                    hyper = sh;
                }
            }
        }

        if (hyper.ValueKind is not (JsonValueKind.Undefined or JsonValueKind.Null or JsonValueKind.Object))
        {
            throw Bad("hyperparameters must be an object", "hyperparameters", "invalid_hyperparameters");
        }

        // A misspelt name ("n_epoch", "learning_rate") would otherwise train with the default without a word.
        var unknown = hyper.ValueKind == JsonValueKind.Object ? hyper.EnumerateObject().Select(p => p.Name).FirstOrDefault(n => !HyperparameterNames.Contains(n)) : null;
        if (unknown is not null)
        {
            throw Bad(
                $"hyperparameters.{RegistryNames.Shorten(unknown)} is not a hyperparameter; they are {string.Join(", ", HyperparameterNames)}",
                $"hyperparameters.{RegistryNames.Shorten(unknown)}",
                "invalid_hyperparameters");
        }

        return hyper;
    }

    // The base: a GGUF LLM the caller may see.
    private static async Task<ResolvedVersion> ResolveBaseAsync(HttpContext context, IModelRegistry registry, string model)
    {
        // Named as the caller names models: its own by the short name, another tenant's shared one as owner/name.
        var access = await context.CheckModelAccessAsync(model, write: false, context.RequestAborted);
        if (access.Result == ModelAccessResult.Hidden || !ModelReference.TryParse(access.Reference, out var reference))
        {
            throw OpenAiApiError.NotFound($"The model '{RegistryNames.Shorten(model)}' does not exist: name a model in the registry as {ModelReference.Forms}", "model",
                "model_not_found");
        }

        ResolvedVersion resolved;
        try
        {
            resolved = await registry.ResolveAsync(reference, context.RequestAborted);
        }
        catch (RegistryException ex) when (ex.Kind == RegistryErrorKind.NotFound)
        {
            throw OpenAiApiError.NotFound($"The model '{RegistryNames.Shorten(model)}' does not exist", "model", "model_not_found");
        }

        if (!context.CanSee(resolved.Model))
        {
            throw OpenAiApiError.NotFound($"The model '{RegistryNames.Shorten(model)}' does not exist", "model", "model_not_found");
        }

        if (resolved.Version.Format != ModelFormat.Gguf)
        {
            throw Bad($"The model '{model}' cannot be fine-tuned: version {resolved.Version.Version} is {resolved.Version.Format.ToString().ToUpperInvariant()}, " +
                $"and only GGUF LLMs can be", "model", "model_not_fine_tunable");
        }

        try
        {
            LlamaFineTuner.CheckBase(await registry.GetLocalArtifactPathAsync(resolved.Version, context.RequestAborted));
        }
        catch (LlamaFineTuneRefusedException ex)
        {
            throw Bad($"The model '{model}' cannot be fine-tuned: {ex.Message}", "model", "model_not_fine_tunable");
        }

        return resolved;
    }

    // The result goes into a model of the caller's tenant, "<base>-ft" or "<base>-ft-<suffix>": its key.
    private static async Task<string> TargetAsync(HttpContext context, IModelRegistry registry, ResolvedVersion resolved, string? suffix, string tenant)
    {
        var target = suffix is null ? $"{resolved.Model.Name}-ft" : $"{resolved.Model.Name}-ft-{suffix}";
        if (!RegistryNames.IsValidName(target))
        {
            throw Bad($"the fine-tuned model's name '{RegistryNames.Shorten(target)}' is too long; use a shorter suffix", "suffix", "invalid_suffix");
        }

        var targetKey = ModelKeys.Of(tenant, target);
        try
        {
            var existing = await registry.GetModelAsync(targetKey, context.RequestAborted);
            if (context.GetCaller() is { } caller && !caller.CanChange(existing.Name, existing.Owner))
            {
                throw Bad($"the model '{target}' that would hold the result belongs to another tenant; choose another suffix", "suffix", "model_name_taken");
            }
        }
        catch (RegistryException ex) when (ex.Code == "model_not_found")
        {
            if (context.GetCaller() is { } caller && !Maas.Core.Tenancy.ModelPatterns.Allows(caller.Models, target))
            {
                throw Bad($"this key may only use models matching {string.Join(", ", caller.Models)}, and the result would be '{target}'", "suffix", "model_not_allowed");
            }
        }

        return targetKey;
    }

    private static async Task<JsonDocument> ReadBodyAsync(HttpContext context, ApiOptions api)
    {
        // The management API's limit (Maas:Api:MaxJsonBodyBytes): 413 request_too_large with limit_bytes past it.
        using var buffer = await ApiRequests.ReadBodyAsync(context.Request, api.MaxJsonBodyBytes, context.RequestAborted);
        if (buffer.Length == 0)
        {
            throw Bad("a JSON body is required", null, "invalid_request");
        }

        JsonDocument document;
        try
        {
            // A key given twice ("n_epochs": 1, "n_epochs": 10) is refused: which of the two was meant is anyone's guess.
            document = JsonDocument.Parse(buffer.ToArray(), new JsonDocumentOptions { MaxDepth = 16, AllowDuplicateProperties = false });
        }
        catch (JsonException e)
        {
            throw Bad($"the body is not valid JSON: {e.Message}", null, "invalid_json");
        }
        catch (InvalidOperationException)
        {
            // The duplicate-key check reads every key: one that is no text (a lone surrogate escape) cannot be read.
            var refusal = OpenAi.OpenAiRequestReader.NotUnicode(null, name: true);
            throw Bad(refusal.Message, null, "invalid_unicode");
        }

        // A string that is not text (raw bytes that are not UTF-8, a lone surrogate escape) would throw when read.
        try
        {
            OpenAi.OpenAiRequestReader.CheckUnicode(document.RootElement, null);
        }
        catch (Maas.Core.Llm.LlmException e)
        {
            document.Dispose();
            throw Bad(e.Message, e.Param, e.Code ?? "invalid_unicode");
        }

        return document;
    }

    // More layers than any model has: a larger count is a caller's mistake.
    private const int MaxTrainedLayers = 1024;

    private static string? String(JsonElement body, string name) =>
        !body.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null ? null
        : value.ValueKind == JsonValueKind.String ? value.GetString()
        : throw Bad($"{name} must be a string", name, "invalid_" + name);

    /// <summary>A hyperparameter: absent or "auto" gives null; otherwise a number in [min, max].</summary>
    private static double? Hyper(JsonElement hyper, string name, double min, double max, bool integer)
    {
        if (hyper.ValueKind != JsonValueKind.Object || !hyper.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null
            || (value.ValueKind == JsonValueKind.String && value.GetString() == "auto"))
        {
            return null;
        }

        var range = integer ? $"an integer from {min} to {max}" : $"a number above 0 and at most {max}";
        if (value.ValueKind != JsonValueKind.Number || !value.TryGetDouble(out var number) || (integer && number != Math.Floor(number)) || number < min || number > max)
        {
            throw Bad($"hyperparameters.{name} must be \"auto\" or {range}, not {RegistryNames.Shorten(value.GetRawText())}", $"hyperparameters.{name}", "invalid_hyperparameters");
        }

        return number;
    }

    private static async Task<QueuedJob> VisibleJobAsync(string id, HttpContext context, IJobQueueStore jobs)
    {
        var job = await jobs.GetAsync(id, context.RequestAborted);
        if (job is null || job.Kind != FineTuningSpec.Kind || !Visible(context.GetCaller(), job))
        {
            throw OpenAiApiError.NotFound($"No such fine-tuning job: {RegistryNames.Shorten(id)}", "fine_tuning_job_id", "fine_tuning_job_not_found");
        }

        return job;
    }

    // The tenant's jobs, narrowed by the key's models as /api/v1/jobs narrows them: a job on a base model the key may not
    // use, for a result it may not use, answers like one that does not exist.
    private static bool Visible(Maas.Core.Tenancy.Caller? caller, QueuedJob job)
    {
        if (caller is null || caller.IsAdmin)
        {
            return true;
        }

        if (caller.Tenant != job.Tenant)
        {
            return false;
        }

        // A spec this version cannot read names no model: only keys not limited to some models see the job.
        return FineTuningSpec.Read(job) is { } spec
            ? Maas.Core.Tenancy.ModelPatterns.Allows(caller.Models, spec.BaseModel) || Maas.Core.Tenancy.ModelPatterns.Allows(caller.Models, spec.TargetModel)
            : caller.Models.Count == 0;
    }

    private static (int Limit, string? After) Page(HttpContext context)
    {
        var text = context.Request.Query["limit"].ToString();
        var limit = 20;
        if (text.Length > 0 && (!int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out limit) || limit is < 1 or > 100))
        {
            throw Bad($"limit must be between 1 and 100, not '{RegistryNames.Shorten(text)}'", "limit", "invalid_limit");
        }

        var after = context.Request.Query["after"].ToString();
        return (limit, after.Length > 0 ? after : null);
    }

    private static async Task<IResult> ListAsync(HttpContext context, IJobQueueStore jobs)
    {
        var (limit, after) = Page(context);
        var caller = context.GetCaller();
        var tenant = caller is { IsAdmin: false } ? caller.Tenant : null;

        // Newest first, as OpenAI lists them; "after" is the last id of the previous page, and the page goes on from
        // that job's place in the database's order (it used to read the tenant's jobs from the newest to find it). An
        // "after" that names no fine-tuning job gives an empty page, as it always did.
        JobPosition? from = null;
        if (after is not null)
        {
            // Another tenant's job is no place in this caller's list: its time is not given away either.
            if (await jobs.GetAsync(after, context.RequestAborted) is not { Kind: FineTuningSpec.Kind } last || (tenant is not null && last.Tenant != tenant))
            {
                return Results.Json(new { @object = "list", data = Array.Empty<object>(), has_more = false });
            }

            from = JobPosition.Of(last);
        }

        var page = await Jobs.JobEndpoints.QueuedPageAsync(jobs, FineTuningSpec.Kind, tenant, job => Visible(caller, job), from, limit, context.RequestAborted);
        return Results.Json(new { @object = "list", data = page.Jobs.Select(FineTuningViews.Job).ToArray(), has_more = page.Next is not null });
    }

    private static async Task<IResult> GetAsync(string id, HttpContext context, IJobQueueStore jobs) =>
        Results.Json(FineTuningViews.Job(await VisibleJobAsync(id, context, jobs)));

    private static async Task<IResult> CancelAsync(string id, HttpContext context, IJobQueueStore jobs, TimeProvider time)
    {
        var job = await VisibleJobAsync(id, context, jobs);
        // A job whose cancel was asked for already reads "cancelled" (as the first cancel answered): a second one, even
        // one that arrived at the same instant, is refused like a finished job's, and adds no second "Cancellation
        // requested" event.
        var now = time.GetUtcNow();
        var after = await Jobs.JobCancellation.RequestAsync(
            jobs,
            job,
            now,
            (current, refusal) => current is { IsFinished: false, Finishing: true }
                ? Bad($"{refusal}; only a running or queued job can be cancelled", "fine_tuning_job_id", "job_finished")
                : Bad($"the job already ended ({FineTuningViews.Status(current)}); only a running or queued job can be cancelled", "fine_tuning_job_id", "job_finished"),
            CancellationToken.None);
        await jobs.AddEventAsync(id, FineTuningJobHandler.MessageEventType, JsonSerializer.Serialize(new { message = "Cancellation requested" }, RegistryJson.Options), now,
            CancellationToken.None);

        // Still running until its worker notices; OpenAI answers "cancelled" at once, and the job follows within a heartbeat.
        return Results.Json(FineTuningViews.Job(after with { Status = JobStatus.Cancelled }));
    }

    private static async Task<IResult> EventsAsync(string id, HttpContext context, IJobQueueStore jobs)
    {
        await VisibleJobAsync(id, context, jobs);
        var (limit, after) = Page(context);
        var all = await AllEventsAsync(id, jobs, context.RequestAborted);
        var views = all.Select(e => FineTuningViews.Event(id, e)).OfType<Dictionary<string, object?>>().Reverse().ToList();
        return Results.Json(PageOf(views, limit, after));
    }

    private static async Task<IResult> CheckpointsAsync(string id, HttpContext context, IJobQueueStore jobs, IOptions<FineTuningOptions> options)
    {
        var job = await VisibleJobAsync(id, context, jobs);
        var (limit, after) = Page(context);
        var all = await AllEventsAsync(id, jobs, context.RequestAborted);
        // A succeeded job keeps its last epochs' checkpoints (registered, callable); while it runs, every epoch's is listed.
        // A spec this version cannot read names no target model to call the checkpoints by: none are listed.
        if (FineTuningSpec.Read(job) is not { } spec)
        {
            return Results.Json(PageOf([], limit, after));
        }

        var firstKept = job.Status == JobStatus.Succeeded ? FineTuningJobHandler.FirstKeptEpoch(spec.Epochs, options.Value.KeptCheckpoints) : 1;
        var views = all.Where(e => e.Type == FineTuningJobHandler.CheckpointEventType)
            .Select(e => (Event: e, Metrics: JsonSerializer.Deserialize<FineTuningEpochMetrics>(e.Data, RegistryJson.Options)!))
            .Where(c => c.Metrics.Epoch >= firstKept)
            .GroupBy(c => c.Metrics.Epoch).Select(g => g.Last()) // an epoch trained again after a worker died: its last run
            .Select(c => FineTuningViews.Checkpoint(job, spec, c.Event, c.Metrics)).Reverse().ToList();
        return Results.Json(PageOf(views, limit, after));
    }

    private static object PageOf(List<Dictionary<string, object?>> newestFirst, int limit, string? after)
    {
        // An "after" that names no entry gives an empty page, as the job list does (starting over would page forever).
        var start = after is null ? 0 : newestFirst.FindIndex(v => (string?)v["id"] == after) is >= 0 and var found ? found + 1 : newestFirst.Count;
        var data = newestFirst.Skip(start).Take(limit).ToArray();
        return new { @object = "list", data, has_more = start + data.Length < newestFirst.Count };
    }

    private static async Task<List<JobEvent>> AllEventsAsync(string id, IJobQueueStore jobs, CancellationToken cancellationToken)
    {
        var all = new List<JobEvent>();
        for (long after = 0; all.Count < 100_000;)
        {
            var page = await jobs.ListEventsAsync(id, after, 1000, cancellationToken);
            all.AddRange(page);
            if (page.Count < 1000)
            {
                break;
            }

            after = page[^1].Seq;
        }

        return all;
    }
}
