using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Maas.Cli.Hosting;
using Maas.Client;
using Maas.Client.Training;
using Spectre.Console;

namespace Maas.Cli.Commands;

/// <summary><c>maas train</c>: submits a training job from flags or a JSON file, and follows it with <c>--follow</c>.</summary>
public static class TrainCommand
{
    /// <summary>The <c>train</c> command.</summary>
    public static Command Create()
    {
        var file = new Option<FileInfo?>("--file", "-f") { Description = "The job as JSON (the body of POST /api/v1/training/jobs); the options below replace its fields" };
        var model = new Option<string?>("--model") { Description = "Model to register the result into (created when missing)" };
        var dataset = new Option<string?>("--dataset") { Description = "Dataset: name or name:version" };
        var task = new Option<string?>("--task") { Description = "regression, binary-classification, multiclass-classification or image-classification" };
        var label = new Option<string?>("--label") { Description = "The column to predict" };
        var feature = new Option<string[]>("--feature") { Description = "A feature column (repeatable; default: every other column)" };
        var trainer = new Option<string?>("--trainer") { Description = "lightgbm, fasttree, sdca, lbfgs (tables) or adamw, sgd (images)" };
        var hyperparameter = new Option<string[]>("--hp") { Description = "A hyperparameter name=number (repeatable), e.g. --hp epochs=5" };
        var validation = new Option<double?>("--validation") { Description = "Share of rows for validation (default 0.1)" }.Within(0, 0.5);
        var test = new Option<double?>("--test") { Description = "Share of rows for the test (default 0.2)" }.Within(0.05, 0.5);
        var seed = new Option<int?>("--seed") { Description = "Seed of the split (and the network's weights): 0 to 2147483647" }.Between(0, int.MaxValue);
        var search = new Option<string?>("--search") { Description = "A hyperparameter search as JSON, or @FILE" };
        var network = new Option<string?>("--network") { Description = "The image network's layers as JSON, or @FILE" };
        var alias = new Option<string?>("--alias") { Description = "Point this alias at the trained version" };
        var visibility = new Option<string?>("--visibility") { Description = "private or shared, when the model is created" };
        var follow = new Option<bool>("--follow") { Description = "Follow the job to its end: a progress bar with the epoch or iteration and metrics; exits 8 when it fails" };
        var command = new Command("train", "Submit a training job (and follow it with --follow)")
        {
            file, model, dataset, task, label, feature, trainer, hyperparameter, validation, test, seed, search, network, alias, visibility, follow,
        };
        command.SetAction(async (parse, client, ct) =>
        {
            var request = new TrainingRequest();
            if (parse.GetValue(file) is { } path)
            {
                if (!path.Exists)
                {
                    throw new CliException("file_not_found", $"no file {path.FullName}");
                }

                try
                {
                    request = JsonSerializer.Deserialize<TrainingRequest>(await File.ReadAllTextAsync(path.FullName, ct), MaasJson.Options)
                        ?? throw new CliException("invalid_json", $"--file: {path.FullName} holds no JSON object", ExitCodes.Usage);
                }
                catch (JsonException e)
                {
                    throw new CliException("invalid_json", $"--file: {path.FullName} is not a training job as JSON: {e.Message}", ExitCodes.Usage);
                }
            }

            var split = parse.GetValue(validation) is null && parse.GetValue(test) is null && parse.GetValue(seed) is null
                ? request.Split
                : new TrainingSplit(parse.GetValue(validation) ?? request.Split?.Validation, parse.GetValue(test) ?? request.Split?.Test,
                    parse.GetValue(seed) ?? request.Split?.Seed);
            request = request with
            {
                Model = parse.GetValue(model) ?? request.Model,
                Dataset = parse.GetValue(dataset) ?? request.Dataset,
                Task = parse.GetValue(task) ?? request.Task,
                Label = parse.GetValue(label) ?? request.Label,
                Features = parse.GetValue(feature) is { Length: > 0 } features ? features : request.Features,
                Trainer = parse.GetValue(trainer) ?? request.Trainer,
                Hyperparameters = Numbers(parse.GetValue(hyperparameter), request.Hyperparameters),
                Split = split,
                Search = Json(parse.GetValue(search), "--search") ?? request.Search,
                Network = Json(parse.GetValue(network), "--network") ?? request.Network,
                Alias = parse.GetValue(alias) ?? request.Alias,
                Visibility = parse.GetValue(visibility) ?? request.Visibility,
            };
            foreach (var (value, option) in new[] { (request.Model, "--model"), (request.Dataset, "--dataset"), (request.Task, "--task"), (request.Label, "--label") })
            {
                if (string.IsNullOrEmpty(value))
                {
                    throw new CliException("usage", $"{option} is required (or give it in --file)", ExitCodes.Usage);
                }
            }

            var job = await client.SubmitTrainingJobAsync(request, ct);
            if (!parse.GetValue(follow))
            {
                return CliHost.Print(parse, job, j => Console.Out.WriteLine($"submitted training job {j.Id} ({j.Status}); follow it with: maas jobs logs {j.Id}"));
            }

            if (!parse.WantsJson())
            {
                Console.Out.WriteLine($"training job {job.Id}: {job.Task} of {job.Dataset} with {job.Trainer} into {job.Model}{(job.SearchTrials is { } n ? $", the best of {n} " +
                    $"trials" : "")}");
            }

            var ended = await FollowAsync(parse, client, job.Id, ct);
            return Outcome(parse, ended);
        });
        return command;
    }

    /// <summary>Follows a training job with its epoch (or boosting iteration) and latest metrics on the bar.</summary>
    public static Task<TrainingJobInfo> FollowAsync(ParseResult parse, MaasClient client, string id, CancellationToken ct) =>
        WorkerJobFollower.FollowAsync(
            parse,
            client,
            id,
            new WorkerJobFollower.Reader<TrainingJobInfo>(
                token => client.GetTrainingJobAsync(id, token),
                j => j.Finished,
                j => j.Progress,
                j => string.Join(" ", new[] { j.Stage, j.Epoch is { } e ? $"epoch {e}" : null, Iteration(j),
                    WorkerJobFollower.Metrics(j.Metrics) }.Where(s => !string.IsNullOrEmpty(s)))),
            ct);

    // While a search runs, the iteration counts its finished trials: "2 of 8 trials done" says so.
    private static string? Iteration(TrainingJobInfo job) => job.Iteration is not { } i ? null
        : job is { Stage: "searching", SearchTrials: { } trials } ? $"{i} of {trials} trials done"
        : $"iteration {i}";

    /// <summary>Prints the ended job and turns its status into the exit code.</summary>
    public static int Outcome(ParseResult parse, TrainingJobInfo job)
    {
        if (parse.WantsJson())
        {
            CliHost.PrintJson(job);
        }
        else if (job.Status == "succeeded")
        {
            var result = job.Result;
            var version = result is { ValueKind: JsonValueKind.Object } r && r.TryGetProperty("version", out var v) ? v.GetRawText() : "?";
            var best = job.SearchTrials is { } n && result is { ValueKind: JsonValueKind.Object } sr && sr.TryGetProperty("search", out var search) &&
                search.ValueKind == JsonValueKind.Object
                && search.TryGetProperty("best", out var b) && b.ValueKind == JsonValueKind.Object && b.TryGetProperty("trial", out _)
                ? $" (trial {WorkerJobFollower.TrialNumber(b)}, the best of {n} trials)" : "";
            Console.Out.WriteLine($"job {job.Id} succeeded: {job.Model} version {version}{best}");
            if (result is { ValueKind: JsonValueKind.Object } o && o.TryGetProperty("evaluation", out var evaluation) && evaluation.ValueKind == JsonValueKind.Object)
            {
                var table = CliHost.Table("METRIC", "VALUE");
                foreach (var metric in evaluation.EnumerateObject().Where(p => p.Value.ValueKind == JsonValueKind.Number))
                {
                    table.Row(metric.Name, WorkerJobFollower.Number(metric.Value.GetDouble()));
                }

                AnsiConsole.Write(table);
            }
        }

        return job.Status switch
        {
            "succeeded" => ExitCodes.Ok,
            "failed" => CliHost.Fail(job.Error?.Code ?? "job_failed", $"job {job.Id} failed: {job.Error?.Message ?? "no reason given"}", ExitCodes.JobFailed),
            _ => CliHost.Fail("job_cancelled", $"job {job.Id} was cancelled", ExitCodes.JobFailed),
        };
    }

    private static Dictionary<string, double>? Numbers(string[]? pairs, Dictionary<string, double>? from)
    {
        var parsed = ModelsCommands.ParsePairs(pairs, "--hp");
        if (parsed is null)
        {
            return from;
        }

        var result = new Dictionary<string, double>(from ?? [], StringComparer.Ordinal);
        foreach (var (key, text) in parsed)
        {
            // NaN and infinities are no JSON numbers: refused here rather than failing to serialise.
            result[key] = double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) && double.IsFinite(value)
                ? value
                : throw new CliException("usage", $"--hp {key}={text}: the value is not a number", ExitCodes.Usage);
        }

        return result;
    }

    /// <summary>JSON given inline or as @FILE.</summary>
    public static JsonElement? Json(string? text, string option)
    {
        if (text is null)
        {
            return null;
        }

        if (text.StartsWith('@'))
        {
            var path = text[1..];
            text = File.Exists(path) ? File.ReadAllText(path) : throw new CliException("file_not_found", $"{option}: no file {Path.GetFullPath(path)}");
        }

        try
        {
            using var document = JsonDocument.Parse(text);
            return document.RootElement.Clone();
        }
        catch (JsonException e)
        {
            throw new CliException("invalid_json", $"{option} is not valid JSON: {e.Message}", ExitCodes.Usage);
        }
    }
}
