using System.Text;
using System.Text.Json;
using Maas.Core.Datasets;
using Maas.Core.Jobs;
using Maas.Core.Jobs.Queue;
using Maas.Core.Registry;
using Maas.Core.Training;
using Maas.Server.Auth;
using Maas.Server.Datasets;
using Maas.Server.Errors;
using Maas.Server.Registry;

namespace Maas.Server.Training;

/// <summary>Training jobs: submit (checked and resolved here, run by a worker), list, show, follow events, cancel.</summary>
internal static class TrainingEndpoints
{
    public static void Map(RouteGroupBuilder api)
    {
        api.MapPost("/training/jobs", SubmitAsync);
        api.MapGet("/training/jobs", ListAsync);
        api.MapGet("/training/jobs/{id}", GetAsync);
        api.MapGet("/training/jobs/{id}/events", EventsAsync);
        api.MapPost("/training/jobs/{id}/cancel", CancelAsync);
        api.MapDelete("/training/jobs/{id}", CancelAsync);
    }

    private static ApiException Bad(string code, string message) => new(StatusCodes.Status400BadRequest, code, message);

    private static async Task<IResult> SubmitAsync(HttpContext context, DatasetCatalog datasets, IModelRegistry registry, IJobQueueStore jobs, TrainingWorkers workers,
        Jobs.JobSubmissionGate gate, TimeProvider time, Microsoft.Extensions.Options.IOptions<TrainingOptions> trainingOptions, ILoggerFactory loggers)
    {
        // A key given twice ("hyperparameters": {"l2": 0.1, "l2": 10}) is refused: which of the two was meant is anyone's guess.
        var body = await ApiRequests.ReadJsonAsync<TrainingJobRequest>(context.Request, context.RequestAborted);
        var caller = context.GetCaller();
        var tenant = context.CallerTenant();

        if (string.IsNullOrEmpty(body.Model))
        {
            throw Bad("invalid_model", "model (the model to register the result into) is required");
        }

        RegistryNames.ValidateName(body.Model);
        var task = body.Task ?? throw Bad("invalid_task", $"task is required: one of {string.Join(", ", TrainingNames.Trainers.Keys)}");
        if (!TrainingNames.Trainers.TryGetValue(task, out var trainers))
        {
            throw Bad("invalid_task", $"task must be one of {string.Join(", ", TrainingNames.Trainers.Keys)}, not '{RegistryNames.Shorten(task)}'");
        }

        var (datasetName, version) = await ResolveDatasetAsync(body.Dataset, context, datasets);
        var schema = version.Schema.ToDictionary(c => c.Name, StringComparer.Ordinal);
        var label = CheckLabel(body.Label, task, schema, datasetName, version);

        var imageTask = task == TrainingNames.ImageClassification;
        if (!imageTask && body.Network is not null)
        {
            throw Bad("invalid_network", "network (layers of a neural network) is only for image-classification");
        }

        var features = ReadFeatures(body, imageTask, label, schema, datasetName, version);
        var split = ReadSplit(body.Split);

        var trainRows = (long)(version.Rows * (1 - split.Validation - split.Test));
        var trainer = body.Trainer ?? TrainingNames.DefaultTrainer(task, trainRows);
        if (!trainers.Contains(trainer))
        {
            throw Bad("invalid_trainer", $"trainer for {task} must be one of {string.Join(", ", trainers)}, not '{RegistryNames.Shorten(trainer)}'");
        }

        var hyperparameters = body.Hyperparameters ?? [];
        CheckHyperparameters(trainer, hyperparameters);

        if (body.Alias is { } alias)
        {
            RegistryNames.ValidateName(alias, "alias");
        }

        // Checked whether or not the model exists (it only sets a new model's visibility): a bad value was accepted and
        // ignored when the model was already there.
        var visibility = ApiRequests.Visibility(body.Visibility);

        var search = PlanSearch(body.Search, split, task, trainer, hyperparameters, trainingOptions.Value.MaxSearchTrials);
        CheckSplitLeavesRows(split, task, label, search is not null, datasetName, version);
        // From the count to the enqueue under the tenant's turn: submissions sent at once cannot pass the limit together.
        using var turn = await gate.EnterAsync(jobs, trainingOptions.Value, caller?.Tenant ?? tenant, context.RequestAborted);

        // The result goes into the caller's tenant's model of that name: the job names it by its key.
        var created = await EnsureModelAsync(context, registry, body.Model, tenant, task, visibility);
        var spec = new TrainingSpec
        {
            Model = ModelKeys.Of(tenant, body.Model),
            Dataset = new DatasetReference(version.Dataset, version.Version, version.Sha256),
            Task = task,
            Label = label,
            Features = features,
            Trainer = trainer,
            Hyperparameters = hyperparameters,
            Network = body.Network,
            Split = split,
            Alias = body.Alias,
            CreatedBy = ApiRequests.Caller(context),
            Search = search,
        };
        var now = time.GetUtcNow();
        QueuedJob job;
        try
        {
            job = await Jobs.JobSubmission.EnqueueAsync(jobs, workers, trainingOptions.Value, "train_", TrainingSpec.Kind, caller?.Tenant ?? tenant, spec, spec.CreatedBy, now,
                context.RequestAborted);
        }
        catch (ApiException e) when (created is not null && e.Code == Jobs.JobSubmission.TooManyJobsCode)
        {
            // Refused at the store's insert (a submission through another server took the last place after this one's
            // count): nothing was queued, so the model this request created for the job goes too, while it is empty.
            await RemoveCreatedModelAsync(registry, jobs, created, caller?.Tenant ?? tenant, loggers.CreateLogger("Maas.Training"));
            throw;
        }

        var response = TrainingJobResponse.From(job, context.CallerTenant());
        context.Response.Headers.Location = response.Url;
        return Results.Json(response, RegistryJson.Options, statusCode: StatusCodes.Status202Accepted);
    }

    // The split as asked (the defaults where it names none): validation 0 to 0.5, test 0.05 to 0.5, together at most 0.8.
    private static TrainingSplit ReadSplit(SplitRequest? request)
    {
        var split = new TrainingSplit
        {
            Validation = request?.Validation ?? 0.1,
            Test = request?.Test ?? 0.2,
            Seed = request?.Seed ?? 42,
        };
        if (split.Validation is < 0 or > 0.5 || split.Test is < 0.05 or > 0.5 || split.Validation + split.Test > 0.8)
        {
            throw Bad("invalid_split", $"split.validation must be 0 to 0.5 and split.test 0.05 to 0.5, together at most 0.8 (given {split.Validation} and {split.Test})");
        }

        // One rule for every job's seed (fine-tuning's seed, optimisation's options.seed): a whole number from 0 up.
        if (split.Seed < 0)
        {
            throw Bad("invalid_split", $"split.seed must be a whole number from 0 to {int.MaxValue}, not {split.Seed}");
        }

        return split;
    }

    // The trials of a hyperparameter search, when one is asked for (null otherwise); 400 invalid_search when it cannot run.
    private static TrainingSearch? PlanSearch(
        JsonElement? request, TrainingSplit split, string task, string trainer, Dictionary<string, double> hyperparameters, int maxTrials)
    {
        if (request is not { ValueKind: not JsonValueKind.Null } searchRequest)
        {
            return null;
        }

        if (split.Validation <= 0)
        {
            throw Bad("invalid_search", "a search compares trials on the validation split; give split.validation above 0");
        }

        try
        {
            return TrainingSearchPlanner.Plan(searchRequest, task, trainer, hyperparameters, split.Seed, maxTrials);
        }
        catch (ArgumentException e)
        {
            throw Bad("invalid_search", e.Message);
        }
    }

    // The dataset: "name" (newest version) or "name:version", visible to the caller.
    private static async Task<(string Name, DatasetVersion Version)> ResolveDatasetAsync(string? dataset, HttpContext context, DatasetCatalog datasets)
    {
        var reference = dataset ?? throw Bad("invalid_dataset", "dataset is required: 'name' or 'name:version'");
        var colon = reference.LastIndexOf(':');
        var datasetName = colon < 0 ? reference : reference[..colon];
        int? datasetVersion = colon < 0 ? null : int.TryParse(reference[(colon + 1)..], out var n) &&
            n > 0 ? n : throw Bad("invalid_dataset", $"'{RegistryNames.Shorten(reference)}' is not 'name' or 'name:version'");
        try
        {
            await DatasetEndpoints.VisibleAsync(datasetName, context, datasets);
            return (datasetName, await datasets.GetVersionAsync(datasetName, datasetVersion, context.RequestAborted));
        }
        catch (ApiException e) when (e.Status == StatusCodes.Status404NotFound)
        {
            throw Bad("dataset_not_found", e.Message);
        }
        catch (RegistryException e) when (e.Kind == RegistryErrorKind.NotFound)
        {
            throw Bad(e.Code, e.Message);
        }
    }

    // The column to predict: a column of the dataset that the task can learn (a number for regression, 2 or more classes otherwise).
    private static string CheckLabel(string? given, string task, Dictionary<string, DatasetColumn> schema, string datasetName, DatasetVersion version)
    {
        var label = given ?? throw Bad("invalid_label", "label (the column to predict) is required");
        if (!schema.TryGetValue(label, out var labelColumn))
        {
            throw Bad("invalid_label", $"label '{RegistryNames.Shorten(label)}' is not a column of {datasetName}:{version.Version} ({RegistryNames.FirstOf(schema.Keys)})");
        }

        if (labelColumn.Type == DatasetColumnType.Image)
        {
            throw Bad("invalid_label", $"label '{label}' is an image column of {datasetName}:{version.Version}; the label is the column to predict (a number or a class)");
        }

        if (task == TrainingNames.Regression && labelColumn.Type != DatasetColumnType.Number)
        {
            throw Bad("invalid_label", $"regression needs a numeric label; '{label}' is {labelColumn.Type.ToString().ToLowerInvariant()}");
        }

        if (task == TrainingNames.Regression && OutOfFloatRange(version, label) is { } extreme)
        {
            throw Bad("invalid_label", $"label '{label}' holds {extreme}, beyond the range of the 32-bit floats the table trainers compute in " +
                $"(±{float.MaxValue}); rescale the column");
        }

        if (task != TrainingNames.Regression)
        {
            var statistics = version.Statistics.FirstOrDefault(s => s.Name == label);
            var balance = statistics?.ClassBalance
                ?? throw Bad("invalid_label", statistics?.Distinct is > 0 and <= DatasetStatisticsCalculator.MaxClasses
                    ? $"'{label}' has values over {DatasetStatisticsCalculator.MaxClassNameChars} characters; classification needs class names at most that long"
                    : $"'{label}' has more than {DatasetStatisticsCalculator.MaxClasses} distinct values; classification needs fewer classes");
            if (balance.Count < 2 || (task == TrainingNames.Binary && balance.Count != 2))
            {
                throw Bad("invalid_label", $"{task} needs {(task == TrainingNames.Binary ? "exactly 2" : "at least 2")} classes in '{label}', which has {balance.Count}");
            }
        }

        return label;
    }

    // The input columns: those named, or every other column of the task's kind (images for image-classification).
    private static List<TabularFeature> ReadFeatures(
        TrainingJobRequest body, bool imageTask, string label, Dictionary<string, DatasetColumn> schema, string datasetName, DatasetVersion version)
    {
        var featureNames = body.Features ?? schema.Values.Where(c => c.Name != label && (c.Type == DatasetColumnType.Image) == imageTask).Select(c => c.Name).ToArray();
        var features = new List<TabularFeature>();
        if (imageTask)
        {
            features.Add(ImageFeature(featureNames, schema, label, version, body.Network, version.Statistics.First(s => s.Name == label).ClassBalance!.Count));
        }

        foreach (var name in imageTask ? [] : featureNames)
        {
            if (string.IsNullOrEmpty(name))
            {
                throw Bad("invalid_features", "features holds a null or empty name; list the feature columns by name");
            }

            if (!schema.TryGetValue(name, out var column))
            {
                throw Bad("invalid_features", $"feature '{RegistryNames.Shorten(name)}' is not a column of {datasetName}:{version.Version}");
            }

            if (name == label || column.Type == DatasetColumnType.Image || features.Any(f => f.Name == name))
            {
                throw Bad("invalid_features", $"feature '{name}' cannot be used: it is the label, an image or named twice");
            }

            if (column.Type != DatasetColumnType.String && OutOfFloatRange(version, name) is { } extreme)
            {
                throw Bad("invalid_features", $"feature '{name}' holds {extreme}, beyond the range of the 32-bit floats the table trainers compute in (±{float.MaxValue}); " +
                    $"rescale the column or leave it out");
            }

            features.Add(new TabularFeature(name, column.Type == DatasetColumnType.String ? TabularFeature.Category : TabularFeature.Number));
        }

        if (features.Count == 0)
        {
            throw Bad("invalid_features", "at least one feature column is needed");
        }

        // Columns without a single value carry nothing to learn from: the fit would only fail on them.
        if (!imageTask && features.All(f => version.Statistics.FirstOrDefault(s => s.Name == f.Name) is { Count: 0 }))
        {
            throw Bad("invalid_features", $"no feature has a value in {datasetName}:{version.Version} ({RegistryNames.FirstOf(features.Select(f => f.Name))} " +
                $"are empty in every row)");
        }

        return features;
    }

    // The smallest or largest number of a column when it is beyond a 32-bit float (ML.NET reads numbers as floats, so
    // such a value becomes infinity: a label is dropped, a feature breaks the fit); null when every value fits.
    private static string? OutOfFloatRange(DatasetVersion version, string column)
    {
        var statistics = version.Statistics.FirstOrDefault(s => s.Name == column);
        foreach (var value in new[] { statistics?.Min, statistics?.Max })
        {
            if (value is { } v && Math.Abs(v) > float.MaxValue)
            {
                return v.ToString("G4", System.Globalization.CultureInfo.InvariantCulture);
            }
        }

        return null;
    }

    // The split as the job will make it, from the dataset's statistics (the label's rows per class, or its count):
    // a split that leaves the job no training or test rows (or a search no validation rows) is refused now rather
    // than failing the job once a worker has loaded the dataset.
    private static void CheckSplitLeavesRows(TrainingSplit split, string task, string label, bool search, string datasetName, DatasetVersion version)
    {
        var statistics = version.Statistics.FirstOrDefault(s => s.Name == label);
        if (statistics is null)
        {
            return;
        }

        var groups = task == TrainingNames.Regression ? [statistics.Count] : statistics.ClassBalance?.Values.ToArray() ?? [];
        long train = 0, validation = 0, test = 0;
        foreach (var rows in groups)
        {
            var (v, t) = split.Counts((int)Math.Min(rows, int.MaxValue));
            (train, validation, test) = (train + rows - v - t, validation + v, test + t);
        }

        var minTrain = task == TrainingNames.ImageClassification ? 1 : 2;
        if (train < minTrain || test < 1 || (search && validation < 1))
        {
            var unit = task == TrainingNames.ImageClassification ? "images" : "rows";
            var needs = search ? $"{minTrain} training, 1 validation and 1 test" : $"{minTrain} training and 1 test";
            throw new ApiException(
                StatusCodes.Status400BadRequest,
                "dataset_too_small",
                $"split validation {split.Validation} / test {split.Test} of the {statistics.Count} labelled {unit} of {datasetName}:{version.Version} leaves {train} training, " +
                $"{validation} validation and {test} test {unit}; the job needs at least {needs}: add {unit} or change split",
                new Dictionary<string, object?> { ["train"] = train, ["validation"] = validation, ["test"] = test });
        }
    }

    private static void CheckHyperparameters(string trainer, Dictionary<string, double> hyperparameters)
    {
        var allowed = TrainingNames.Hyperparameters[trainer];
        foreach (var (key, value) in hyperparameters)
        {
            if (!allowed.TryGetValue(key, out var range))
            {
                throw Bad("invalid_hyperparameters", $"{trainer} takes {string.Join(", ", allowed.Keys)}, not '{RegistryNames.Shorten(key)}'");
            }

            if (!double.IsFinite(value) || value < range.Min || value > range.Max)
            {
                throw Bad("invalid_hyperparameters", $"{key} must be between {range.Min} and {range.Max}, not {value}");
            }

            if (TrainingNames.WholeNumberHyperparameters.Contains(key) && value != Math.Floor(value))
            {
                throw Bad("invalid_hyperparameters", $"{key} must be a whole number, not {value}");
            }
        }
    }

    // image-classification: exactly one image column of a shape networks take, and a network (given or the default)
    // whose shapes work out for it, checked here so a bad layer is a 400 naming it rather than a failed job.
    private static TabularFeature ImageFeature(string[] names, Dictionary<string, DatasetColumn> schema, string label, DatasetVersion version, List<NetworkLayer>? network,
        int classes)
    {
        if (names.Length != 1 || names[0] is null || !schema.TryGetValue(names[0], out var column) || column.Type != DatasetColumnType.Image || names[0] == label)
        {
            throw Bad("invalid_features", $"image-classification takes one image column as its feature; {version.Dataset}:{version.Version} has " +
                $"{string.Join(", ", schema.Values.Where(c => c.Type == DatasetColumnType.Image).Select(c => c.Name).DefaultIfEmpty("none"))}");
        }

        var shape = column.Shape switch
        {
            [var h, var w] => new NetworkShape([1, h, w]),
            [var h, var w, var c] when c is 1 or 3 => new NetworkShape([c, h, w]),
            _ => throw Bad("invalid_features",
                $"image column '{column.Name}' has shape [{string.Join(", ", column.Shape ?? [])}]; networks take [height, width] or [height, width, 3]"),
        };
        try
        {
            NetworkShapes.Check(network ?? NetworkShapes.DefaultCnn, shape, classes);
        }
        catch (NetworkException e)
        {
            throw Bad("invalid_network", e.Message);
        }

        return new TabularFeature(column.Name, "image");
    }

    // The result goes into a model the caller's tenant owns: an existing one it may change, or a new private one; the
    // model this call created (null when it was there already, or another submission created it first).
    private static async Task<Model?> EnsureModelAsync(HttpContext context, IModelRegistry registry, string name, string tenant, string task, ModelVisibility? visibility)
    {
        var caller = context.GetCaller();
        try
        {
            var model = await registry.GetModelAsync(ModelKeys.Of(tenant, name), context.RequestAborted);
            if (caller is not null && !caller.CanChange(model.Name, model.Owner))
            {
                throw caller.CanSee(model.Name, model.Owner, model.Visibility)
                    ? new ApiException(StatusCodes.Status403Forbidden, "model_read_only", $"model '{name}' belongs to another tenant; train into a model of your own")
                    : Bad("model_not_found", $"model '{name}' does not exist for this key; name a new model to create it");
            }

            return null;
        }
        catch (RegistryException e) when (e.Code == "model_not_found")
        {
            if (caller is not null && !Maas.Core.Tenancy.ModelPatterns.Allows(caller.Models, name))
            {
                throw new ApiException(StatusCodes.Status403Forbidden, "model_not_allowed", $"this key may only use models matching {string.Join(", ", caller.Models)}");
            }

            try
            {
                return await registry.CreateModelAsync(
                    new NewModel(name, "", ["trained"], task, visibility ?? ModelVisibility.Private, tenant, ApiRequests.Caller(context)),
                    context.RequestAborted);
            }
            catch (RegistryException exists) when (exists.Code == "model_exists")
            {
                // Created by a concurrent submission: the next job's registration finds it.
                return null;
            }
        }
    }

    // How many of the tenant's newest training jobs are looked through for one that names a model about to be removed.
    private const int NewestJobsChecked = 100;

    /// <summary>
    /// Deletes <paramref name="created"/>, the model a refused submission created, if it is still that model (not one
    /// made again under its name since), has no versions, and no queued or running training job names it (a submission
    /// through another server may have found it and been accepted), among the newest jobs of <paramref name="jobTenant"/>
    /// (the tenant the job was submitted under); otherwise, or when the deletion is refused (an alias was set on it), it
    /// stays. Runs to its end even when the caller has hung up.
    /// </summary>
    private static async Task RemoveCreatedModelAsync(IModelRegistry registry, IJobQueueStore jobs, Model created, string jobTenant, ILogger logger)
    {
        try
        {
            var current = await registry.GetModelAsync(created.Key, CancellationToken.None);
            if (current.Id != created.Id || (await registry.ListVersionsAsync(created.Key, CancellationToken.None)).Count > 0)
            {
                return;
            }

            // Jobs naming a model are newer than it: the tenant's newest training jobs hold any that could.
            var newest = await jobs.ListAsync(TrainingSpec.Kind, jobTenant, NewestJobsChecked, 0, CancellationToken.None);
            if (newest.Any(j => (j.Status is JobStatus.Queued or JobStatus.Running) && NamesModel(j, created.Key)))
            {
                return;
            }

            await registry.DeleteModelAsync(created.Key, force: false, CancellationToken.None);
        }
        catch (RegistryException e) when (e.Code is "model_not_found" or "model_in_use")
        {
            // Gone already, or given an alias since (someone uses it): either way it is not this request's to remove.
        }
        catch (Exception e)
        {
            // The refusal is still the answer: a model left behind is empty and may be deleted by hand.
            logger.LogWarning(e, "the empty model {Model} a refused training submission created could not be removed", created.Key);
        }
    }

    private static bool NamesModel(QueuedJob job, string model)
    {
        try
        {
            return JsonSerializer.Deserialize<TrainingSpec>(job.Spec, RegistryJson.Options)?.Model == model;
        }
        catch (JsonException)
        {
            // A spec this server cannot read may name it: keep the model.
            return true;
        }
    }

    private static async Task<QueuedJob> VisibleJobAsync(string id, HttpContext context, IJobQueueStore jobs)
    {
        var job = await jobs.GetAsync(id, context.RequestAborted);
        if (job is null || job.Kind is not (TrainingSpec.Kind or TrialSpec.Kind) || !Visible(context.GetCaller(), job))
        {
            throw new ApiException(StatusCodes.Status404NotFound, "job_not_found", $"training job '{RegistryNames.Shorten(id)}' does not exist");
        }

        return job;
    }

    private static async Task<IResult> ListAsync(HttpContext context, IJobQueueStore jobs)
    {
        var limit = ApiRequests.OptionalInt(context.Request.Query["limit"], "limit") ?? 100;
        var offset = ApiRequests.OptionalInt(context.Request.Query["offset"], "offset") ?? 0;
        if (limit is < 1 or > 1000 || offset < 0)
        {
            throw Bad("invalid_query", $"limit must be between 1 and 1000 and offset not negative (given {limit} and {offset})");
        }

        // "before" (a next_before) goes on from a place in the list, which jobs submitted meanwhile do not move, as an
        // offset does; the two do not mix.
        var before = Jobs.JobEndpoints.Before(context.Request.Query["before"].ToString());
        if (before is not null && offset > 0)
        {
            throw Bad("invalid_query", "give before (the next_before of an earlier page) or offset, not both");
        }

        var caller = context.GetCaller();
        var tenant = caller is { IsAdmin: false } ? caller.Tenant : null;
        IReadOnlyList<QueuedJob> list;
        string? next = null;
        if (offset > 0)
        {
            list = (await jobs.ListAsync(TrainingSpec.Kind, tenant, limit, offset, context.RequestAborted)).Where(j => Visible(caller, j)).ToArray();
        }
        else
        {
            // Read as GET /api/v1/jobs reads it: a key limited to some models may get a short page, never a gap.
            var page = await Jobs.JobEndpoints.QueuedPageAsync(jobs, TrainingSpec.Kind, tenant, j => Visible(caller, j), before, limit, context.RequestAborted);
            (list, next) = (page.Jobs, page.Next?.ToString());
        }

        return Results.Json(
            new { jobs = list.Select(j => TrainingJobResponse.From(j, context.CallerTenant())).ToArray(), limit, offset, next_before = next },
            RegistryJson.Options);
    }

    // The tenant's jobs, narrowed as /api/v1/jobs narrows them by the key's models: a job of a model outside the key's
    // list answers like one that does not exist (its metrics and events tell about that model).
    private static bool Visible(Maas.Core.Tenancy.Caller? caller, QueuedJob job) => Jobs.JobEndpoints.VisibleQueued(caller, job);

    private static async Task<IResult> GetAsync(string id, HttpContext context, IJobQueueStore jobs) =>
        Results.Json(TrainingJobResponse.From(await VisibleJobAsync(id, context, jobs), context.CallerTenant()), RegistryJson.Options);

    private static async Task<IResult> CancelAsync(string id, HttpContext context, IJobQueueStore jobs, TimeProvider time)
    {
        var job = await VisibleJobAsync(id, context, jobs);
        var now = time.GetUtcNow();
        var after = await Jobs.JobCancellation.RequestAsync(jobs, job, now, Jobs.JobCancellation.Conflict, context.RequestAborted);
        await jobs.AddEventAsync(id, "cancel_requested", JsonSerializer.Serialize(new { by = ApiRequests.Caller(context) }, RegistryJson.Options), now, CancellationToken.None);
        return Results.Json(TrainingJobResponse.From(after, context.CallerTenant()), RegistryJson.Options, statusCode: StatusCodes.Status202Accepted);
    }

    // Server-sent events while the job runs (Accept: text/event-stream), else a JSON page of the stored events.
    private static async Task<IResult> EventsAsync(string id, HttpContext context, IJobQueueStore jobs)
    {
        await VisibleJobAsync(id, context, jobs);
        var after = ApiRequests.OptionalLong(context.Request.Query["after"], "after") ?? 0;
        var limit = ApiRequests.OptionalInt(context.Request.Query["limit"], "limit") ?? 100;
        if (limit is < 1 or > 1000 || after < 0)
        {
            throw Bad("invalid_query", $"limit must be between 1 and 1000 and after not negative (given {limit} and {after})");
        }

        if (!context.Request.Headers.Accept.ToString().Contains("text/event-stream", StringComparison.OrdinalIgnoreCase))
        {
            var page = await jobs.ListEventsAsync(id, after, limit, context.RequestAborted);
            var job = await jobs.GetAsync(id, context.RequestAborted);
            return Results.Json(
                new { events = page.Select(View).ToArray(), next_after = page.Count > 0 ? page[^1].Seq : after, finished = job?.IsFinished ?? true },
                RegistryJson.Options);
        }

        var response = context.Response;
        response.Headers.ContentType = "text/event-stream";
        response.Headers.CacheControl = "no-cache";
        var lastBeat = DateTime.UtcNow;
        while (!context.RequestAborted.IsCancellationRequested)
        {
            var job = await jobs.GetAsync(id, context.RequestAborted);
            var page = await jobs.ListEventsAsync(id, after, 1000, context.RequestAborted);
            foreach (var e in page)
            {
                await response.WriteAsync($"id: {e.Seq}\nevent: {e.Type}\ndata: {JsonSerializer.Serialize(View(e), RegistryJson.Options)}\n\n", Encoding.UTF8,
                    context.RequestAborted);
                after = e.Seq;
            }

            if (page.Count == 0 && (job is null || job.IsFinished))
            {
                await response.WriteAsync($"event: end\ndata: {{\"status\": \"{job?.Status.ToString().ToLowerInvariant()}\"}}\n\n", context.RequestAborted);
                break;
            }

            if (DateTime.UtcNow - lastBeat > TimeSpan.FromSeconds(15))
            {
                await response.WriteAsync(": keep-alive\n\n", context.RequestAborted);
                lastBeat = DateTime.UtcNow;
            }

            await response.Body.FlushAsync(context.RequestAborted);
            if (page.Count == 0)
            {
                await Task.Delay(250, context.RequestAborted);
            }
        }

        return Results.Empty;
    }

    private static object View(JobEvent e)
    {
        using var document = JsonDocument.Parse(e.Data);
        return new { seq = e.Seq, at = e.At, type = e.Type, data = document.RootElement.Clone() };
    }
}
