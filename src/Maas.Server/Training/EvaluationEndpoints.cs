using System.Text.Json;
using System.Text.Json.Nodes;
using Maas.Core.Datasets;
using Maas.Core.Jobs.Queue;
using Maas.Core.Registry;
using Maas.Core.Tenancy;
using Maas.Core.Training;
using Maas.Server.Auth;
using Maas.Server.Datasets;
using Maas.Server.Errors;
using Maas.Server.Jobs;
using Maas.Server.Registry;
using Maas.Training;
using Microsoft.Extensions.Options;

namespace Maas.Server.Training;

/// <summary>
/// Evaluations of a version on another dataset: checked here (a version MaaS trained, a dataset the caller may read
/// that has the columns the version takes), queued as an "evaluation" job, listed per version.
/// </summary>
internal static class EvaluationEndpoints
{
    // How many of the caller's tenant's newest evaluation jobs the per-version list looks through.
    private const int ListedJobs = 1000;

    public static void Map(RouteGroupBuilder api)
    {
        api.MapPost("/models/{name}/versions/{version}/evaluations", SubmitAsync);
        api.MapGet("/models/{name}/versions/{version}/evaluations", ListAsync);
    }

    private static ApiException Bad(string code, string message, Dictionary<string, object?>? details = null) => new(StatusCodes.Status400BadRequest, code, message, details);

    private static async Task<IResult> SubmitAsync(string name, string version, HttpContext context, IModelRegistry registry, DatasetCatalog datasets, IJobQueueStore jobs,
        TrainingWorkers workers, JobSubmissionGate gate, IOptions<TrainingOptions> training, TimeProvider time)
    {
        var body = await ApiRequests.ReadJsonAsync<EvaluationRequest>(context.Request, context.RequestAborted);
        var found = await registry.GetVersionAsync(name, ApiRequests.Version(version), context.RequestAborted);

        var tabular = found.Metadata.TryGetValue(TabularModelInfo.MetadataKey, out var text) ? TabularModelInfo.TryRead(text) : null;
        var image = tabular is null ? EvaluationJobHandler.ReadImageInfo(found) : null;
        // An optimised version keeps its source's maas.tabular or maas.image; the columns come from the source's lineage.
        var lineage = await EvaluationJobHandler.LineageAsync(registry, found, context.RequestAborted);
        var (lineageFeatures, lineageLabel) = (lineage.Features, lineage.Label);
        var imageColumn = image is null ? null : lineage.ImageColumn;
        if (tabular is null && (image is null || imageColumn is null))
        {
            throw Bad(EvaluationJobHandler.NotTrainedCode, EvaluationJobHandler.NotEvaluableMessage(found with { Model = name }, image, lineage));
        }

        if (body.Limit is < 1)
        {
            throw Bad("invalid_limit", $"limit (the most rows to score) must be at least 1, not {body.Limit}");
        }

        var dataset = await DatasetAsync(body.Dataset, context, datasets);
        var schema = dataset.Schema.ToDictionary(c => c.Name, StringComparer.Ordinal);
        var label = body.Label ?? lineageLabel
            ?? throw Bad("invalid_label", $"version {found.Version} does not record the label column it was trained with; name it with label");
        if (!schema.TryGetValue(label, out var labelColumn) || labelColumn.Type == DatasetColumnType.Image)
        {
            throw Bad("invalid_label", $"label '{RegistryNames.Shorten(label)}' is not a number or text column of {dataset.Dataset}:{dataset.Version} " +
                $"({RegistryNames.FirstOf(schema.Keys)})", new() { ["column"] = label });
        }

        if (tabular is { Task: TrainingNames.Regression } && labelColumn.Type != DatasetColumnType.Number)
        {
            throw Bad("invalid_label", $"the version is a regression model; label '{label}' must hold numbers, not {labelColumn.Type.ToString().ToLowerInvariant()}",
                new() { ["column"] = label });
        }

        CheckLabelValues(dataset, label, found.Version, tabular is null ? image!.Classes : tabular.Classes);
        CheckColumns(dataset, schema, found.Version, tabular, image, imageColumn, lineageFeatures);

        // The job is the caller's (its tenant's, counted in its limit of unfinished jobs), also on a model another tenant shares.
        var jobTenant = context.GetCaller()?.Tenant ?? context.CallerTenant();
        using var turn = await gate.EnterAsync(jobs, training.Value, jobTenant, context.RequestAborted);
        var spec = new EvaluationSpec
        {
            Model = found.Model,
            Version = found.Version,
            Dataset = new DatasetReference(dataset.Dataset, dataset.Version, dataset.Sha256),
            Label = label,
            Limit = body.Limit,
            CreatedBy = ApiRequests.Caller(context),
        };
        var job = await JobSubmission.EnqueueAsync(jobs, workers, training.Value, "eval_", EvaluationSpec.Kind, jobTenant, spec, spec.CreatedBy, time.GetUtcNow(),
            context.RequestAborted);
        context.Response.Headers.Location = QueuedJobResponse.From(job).Url;
        return Results.Json(View(job, context.CallerTenant()), RegistryJson.Options, statusCode: StatusCodes.Status202Accepted);
    }

    // From the dataset's statistics: a label column with no value cannot be scored, and one whose values are none of a
    // classifier's classes is another column than the one it learned (every answer would count as wrong).
    private static void CheckLabelValues(DatasetVersion dataset, string label, int version, IReadOnlyList<string>? classes)
    {
        if (dataset.Statistics.FirstOrDefault(c => c.Name == label) is not { } statistics)
        {
            return;
        }

        if (statistics.Count == 0)
        {
            throw Bad("dataset_too_small", $"{dataset.Dataset}:{dataset.Version} has no row with a value in '{RegistryNames.Shorten(label)}'", new() { ["column"] = label });
        }

        if (classes is { Count: > 0 } && statistics.ClassBalance is { Count: > 0 } balance && !balance.Keys.Any(classes.Contains))
        {
            throw Bad(
                "invalid_label",
                $"no value of '{RegistryNames.Shorten(label)}' in {dataset.Dataset}:{dataset.Version} is a class version {version} knows " +
                $"({RegistryNames.FirstOf(classes, 10)}); it holds {RegistryNames.FirstOf(balance.Keys, 10)}",
                new() { ["column"] = label });
        }
    }

    // Every column the version takes must be there, of a kind it can read: a number feature is not a text column, an
    // image is of the size and channels the network takes. Found here, as a 400, not as a failed job.
    private static void CheckColumns(DatasetVersion dataset, Dictionary<string, DatasetColumn> schema, int version, TabularModelInfo? tabular, ImageModelInfo? image,
        string? imageColumn, IReadOnlyList<string>? lineageFeatures)
    {
        var needed = tabular is not null
            ? tabular.Features.Select(f => (f.Name, Image: false, Number: f.Type == TabularFeature.Number))
            : [(imageColumn!, Image: true, Number: false)];
        foreach (var (column, isImage, isNumber) in needed)
        {
            if (!schema.TryGetValue(column, out var c) || (c.Type == DatasetColumnType.Image) != isImage)
            {
                throw Bad(
                    "missing_column",
                    $"{dataset.Dataset}:{dataset.Version} has no {(isImage ? "image " : "")}column '{column}', which version {version} takes as a feature (it takes " +
                    $"{string.Join(", ", tabular?.Features.Select(f => f.Name) ?? lineageFeatures ?? [])})",
                    new() { ["column"] = column });
            }

            if (isNumber && c.Type == DatasetColumnType.String)
            {
                throw Bad(
                    "invalid_column",
                    $"column '{column}' of {dataset.Dataset}:{dataset.Version} holds text, but version {version} takes it as a number",
                    new() { ["column"] = column, ["expected"] = "number", ["found"] = "string" });
            }

            // Stored [height, width] (grey) or [height, width, channels]; the network takes [channels, height, width].
            if (isImage && c.Shape is { Count: 2 or 3 } dims
                && (dims[0], dims[1], dims.Count == 3 ? dims[2] : 1) is var (h, w, ch)
                && (ch, h, w) != (image!.Shape[0], image.Shape[1], image.Shape[2]))
            {
                throw Bad(
                    "invalid_column",
                    $"image column '{column}' of {dataset.Dataset}:{dataset.Version} holds {h}x{w} images of {ch} channel(s), but version {version} takes " +
                    $"{image.Shape[1]}x{image.Shape[2]} of {image.Shape[0]}",
                    new() { ["column"] = column, ["expected"] = new[] { image.Shape[1], image.Shape[2], image.Shape[0] }, ["found"] = new[] { h, w, ch } });
            }
        }
    }

    // The dataset: "name" (newest version), "name:version" or {"name", "version"}, which the caller may read.
    private static async Task<DatasetVersion> DatasetAsync(JsonElement? given, HttpContext context, DatasetCatalog datasets)
    {
        string? datasetName;
        int? number = null;
        switch (given)
        {
            case { ValueKind: JsonValueKind.String } s:
                var reference = s.GetString()!;
                var colon = reference.LastIndexOf(':');
                datasetName = colon < 0 ? reference : reference[..colon];
                number = colon < 0 ? null : int.TryParse(reference[(colon + 1)..], out var n) &&
                    n > 0 ? n : throw Bad("invalid_dataset", $"'{RegistryNames.Shorten(reference)}' is not 'name' or 'name:version'");
                break;
            case { ValueKind: JsonValueKind.Object } o:
                datasetName = o.TryGetProperty("name", out var nameElement) && nameElement.ValueKind == JsonValueKind.String ? nameElement.GetString() : null;
                if (o.TryGetProperty("version", out var v) && v.ValueKind != JsonValueKind.Null)
                {
                    number = v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out var m) &&
                        m > 0 ? m : throw Bad("invalid_dataset", "dataset.version must be a positive whole number");
                }

                break;
            default:
                throw Bad("invalid_dataset", "dataset is required: \"name\", \"name:version\" or {\"name\", \"version\"}");
        }

        if (string.IsNullOrEmpty(datasetName))
        {
            throw Bad("invalid_dataset", "dataset is required: \"name\", \"name:version\" or {\"name\", \"version\"}");
        }

        // Scoring reads the dataset: the key must be allowed to read datasets as well as models.
        if (context.GetCaller() is { } caller && !caller.Has(MaasScopes.DatasetsRead))
        {
            throw new ApiException(StatusCodes.Status403Forbidden, "insufficient_scope",
                $"evaluating reads a dataset, which needs the scope {MaasScopes.DatasetsRead}; the key has {string.Join(", ", caller.Scopes)}");
        }

        // Another tenant's private dataset answers 404 dataset_not_found, like one that does not exist.
        await DatasetEndpoints.VisibleAsync(datasetName, context, datasets);
        return await datasets.GetVersionAsync(datasetName, number, context.RequestAborted);
    }

    // The version's evaluation jobs, newest first, with their results.
    private static async Task<IResult> ListAsync(string name, string version, HttpContext context, IModelRegistry registry, IJobQueueStore jobs)
    {
        var found = await registry.GetVersionAsync(name, ApiRequests.Version(version), context.RequestAborted);
        var caller = context.GetCaller();
        var listed = await jobs.ListAsync(EvaluationSpec.Kind, caller is { IsAdmin: false } ? caller.Tenant : null, ListedJobs, 0, context.RequestAborted);
        var mine = listed.Where(j => JobEndpoints.VisibleQueued(caller, j) && QueuedJobResponse.Subject(j.Spec) is var (m, v) && m == found.Model && v == found.Version)
            .Select(j => View(j, context.CallerTenant()))
            .ToArray();
        return Results.Json(new { evaluations = mine }, RegistryJson.Options);
    }

    // The job's view and what it scores (dataset, label, limit): a finished job's result repeats them, but a queued,
    // running, failed or cancelled one has them nowhere else.
    private static JsonObject View(QueuedJob job, string? tenant)
    {
        var view = JsonSerializer.SerializeToNode(QueuedJobResponse.From(job, tenant), RegistryJson.Options)!.AsObject();
        if (JsonSerializer.Deserialize<EvaluationSpec>(job.Spec, RegistryJson.Options) is { } spec)
        {
            view["dataset"] = new JsonObject { ["name"] = spec.Dataset.Name, ["version"] = spec.Dataset.Version };
            view["label"] = spec.Label;
            view["limit"] = spec.Limit;
        }

        return view;
    }
}
