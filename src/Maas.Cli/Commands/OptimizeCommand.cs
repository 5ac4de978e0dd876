using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Maas.Cli.Hosting;
using Maas.Client;
using Maas.Client.Jobs;
using Spectre.Console;

namespace Maas.Cli.Commands;

/// <summary><c>maas optimize MODEL VERSION --method M</c>: a measured, gated smaller or faster version.</summary>
public static class OptimizeCommand
{
    /// <summary>The <c>optimize</c> command.</summary>
    public static Command Create()
    {
        var model = new Argument<string>("model") { Description = "Model name" };
        var version = new Argument<int?>("version")
        {
            Description = "The source version (or --version, as evaluate and models show take it)",
            Arity = ArgumentArity.ZeroOrOne
        }.VersionNumber();
        var versionOption = new Option<int?>("--version") { Description = "The source version, instead of VERSION" }.VersionNumber();
        var method = new Option<string>("--method")
        {
            Description = "gguf-quantize, onnx-fp16, onnx-int8-dynamic, onnx-int8-static, onnx-int4, onnx-optimize, " +
            "prune-magnitude, prune-structured",
            Required = true
        };
        var option = new Option<string[]>("--option", "-o")
        {
            Description = "A method option name=value (repeatable): type=q4_k_m, level=extended, sparsity=0.5, samples=8, ...; " +
            "a dotted name sets a nested field (fine_tune.hyperparameters.learning_rate=0.01), a value starting with { or [ is JSON"
        };
        var optionsJson = new Option<string?>("--options")
        {
            Description = "The whole options object as JSON (nested objects such as fine_tune); -o and the --fine-tune " +
            "flags replace its fields"
        };
        var optionsFile = new Option<FileInfo?>("--options-file") { Description = "The whole options object as JSON in a file, instead of --options" };
        var fineTune = new Option<string?>("--fine-tune")
        {
            Description = "prune-magnitude, prune-structured: fine-tune the pruned network on this dataset (name or " +
            "name:version), options.fine_tune.dataset"
        };
        var fineTuneEpochs = new Option<int?>("--fine-tune-epochs")
        {
            Description = "Epochs of the fine-tune (options.fine_tune.hyperparameters.epochs; " +
            "the server's default is 5)"
        };
        var gate = new Option<string[]>("--gate")
        {
            Description = "A gate threshold name=number (repeatable): max_relative_mean_abs_diff=0.05, min_top1_agreement=0.99, " +
            "max_perplexity_increase=0.1, ..."
        };
        var alias = new Option<string?>("--alias") { Description = "Point this alias at the new version when the gate passes" };
        var noWait = new Option<bool>("--no-wait") { Description = "Print the job and return at once" };
        var command = new Command("optimize", $"Make a new version with an optimisation method, measured against its source and registered ready or rejected by a gate; a " +
            $"version the gate rejects exits {ExitCodes.Rejected}")
        {
            model, version, versionOption, method, option, optionsJson, optionsFile, fineTune, fineTuneEpochs, gate, alias, noWait,
        };
        command.Aliases.Add("optimise");
        command.SetAction(async (parse, client, ct) =>
        {
            var source = (parse.GetValue(version), parse.GetValue(versionOption)) switch
            {
                ({ } given, null) => given,
                (null, { } given) => given,
                ({ } a, { } b) when a == b => a,
                (null, null) => throw new CliException("usage", "the source version is required: maas optimize MODEL VERSION --method M (or --version N)", ExitCodes.Usage),
                var (a, b) => throw new CliException("usage", $"two source versions: {a} and --version {b}; give one", ExitCodes.Usage),
            };
            var options = Options(parse.GetValue(method)!, await OptionsJsonAsync(parse.GetValue(optionsJson), parse.GetValue(optionsFile), ct), parse.GetValue(option),
                parse.GetValue(fineTune), parse.GetValue(fineTuneEpochs));
            var thresholds = ModelsCommands.ParsePairs(parse.GetValue(gate), "--gate")?.ToDictionary(
                kv => kv.Key,
                kv => double.TryParse(kv.Value, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) &&
                    double.IsFinite(d) ? d : throw new CliException("usage", $"--gate {kv.Key}={kv.Value}: the value is not a number", ExitCodes.Usage),
                StringComparer.Ordinal);
            var job = await client.OptimizeVersionAsync(parse.GetValue(model)!, source, parse.GetValue(method)!, options, thresholds, parse.GetValue(alias), ct);
            if (parse.GetValue(noWait))
            {
                return CliHost.Print(parse, job, j => Console.Out.WriteLine($"submitted optimisation job {j.Id} ({j.Status}); follow it with: maas jobs logs {j.Id}"));
            }

            if (!parse.WantsJson())
            {
                // As train's first line: the job's id before its progress, to find it again with maas jobs.
                Console.Out.WriteLine($"optimisation job {job.Id}: {parse.GetValue(method)} of {parse.GetValue(model)} version {source}");
            }

            var ended = await FollowAsync(parse, client, job.Id, ct);
            return Outcome(parse, ended);
        });
        return command;
    }

    /// <summary>Follows a worker-run job read through the jobs API (optimisation and any other kind).</summary>
    public static Task<JobInfo> FollowAsync(ParseResult parse, MaasClient client, string id, CancellationToken ct) =>
        WorkerJobFollower.FollowAsync(
            parse,
            client,
            id,
            new WorkerJobFollower.Reader<JobInfo>(token => client.GetJobAsync(id, token), j => j.Finished, j => j.Progress ?? 0, j => j.Stage ?? ""),
            ct);

    /// <summary>Prints the ended optimisation (the new version, ready or rejected, its report and gate) and returns the exit code.</summary>
    public static int Outcome(ParseResult parse, JobInfo job)
    {
        if (parse.WantsJson())
        {
            CliHost.PrintJson(job);
        }
        else if (job.Status == "succeeded" && job.Result is { ValueKind: JsonValueKind.Object } result)
        {
            Describe(result);
        }

        return job.Status switch
        {
            "succeeded" when Rejected(job) is { } failed => CliHost.Fail("optimization_rejected", $"the gate rejected the new version (job {job.Id}){failed}", ExitCodes.Rejected),
            "succeeded" => ExitCodes.Ok,
            "failed" => CliHost.Fail(job.Error?.Code ?? "job_failed", $"job {job.Id} failed: {job.Error?.Message ?? "no reason given"}", ExitCodes.JobFailed),
            _ => CliHost.Fail("job_cancelled", $"job {job.Id} was cancelled", ExitCodes.JobFailed),
        };
    }

    // Null when the new version is ready; else the checks that failed, as " (name value > threshold, ...)".
    private static string? Rejected(JobInfo job)
    {
        if (job.Result is not { ValueKind: JsonValueKind.Object } result || !result.TryGetProperty("status", out var status) || status.GetString() != "rejected")
        {
            return null;
        }

        var failed = result.TryGetProperty("report", out var report) && report.ValueKind == JsonValueKind.Object
            && report.TryGetProperty("gate", out var gate) && gate.TryGetProperty("checks", out var checks) && checks.ValueKind == JsonValueKind.Array
            ? checks.EnumerateArray().Where(c => c.TryGetProperty("passed", out var p) && p.ValueKind == JsonValueKind.False).Select(Check).ToList()
            : [];
        return failed.Count == 0 ? "" : $": {string.Join(", ", failed)}";
    }

    private static string Check(JsonElement check)
    {
        string Text(string name) => check.TryGetProperty(name, out var v) && v.ValueKind != JsonValueKind.Null
            ? v.ValueKind == JsonValueKind.Number ? WorkerJobFollower.Number(v.GetDouble()) : v.ToString()
            : "none";
        var name = Text("name");
        var threshold = Text("threshold");
        return threshold == "none" ? $"{name} failed" : $"{name} {Text("value")} {(name.StartsWith("min_", StringComparison.Ordinal) ? "<" : ">")} {threshold}";
    }

    private static void Describe(JsonElement result)
    {
        string Get(JsonElement e, string name) => e.TryGetProperty(name, out var v) ? v.ValueKind == JsonValueKind.String ? v.GetString()! : v.GetRawText() : "?";
        Console.Out.WriteLine($"{Get(result, "model")} version {Get(result, "version")}: {Get(result, "status")}");
        if (result.TryGetProperty("report", out var report) && report.ValueKind == JsonValueKind.Object)
        {
            PrintReport(report);
        }
    }

    /// <summary>An optimisation's report: its measurements, then the gate's checks (also for <c>models show --version</c>).</summary>
    public static void PrintReport(JsonElement report)
    {
        string Get(JsonElement e, string name) => e.TryGetProperty(name, out var v) ? v.ValueKind == JsonValueKind.String ? v.GetString()! : v.GetRawText() : "?";
        var numbers = CliHost.Table("MEASURE", "VALUE");
        foreach (var p in report.EnumerateObject().Where(p => p.Value.ValueKind is JsonValueKind.Number or JsonValueKind.String))
        {
            numbers.Row(p.Name, p.Value.ValueKind == JsonValueKind.Number ? WorkerJobFollower.Number(p.Value.GetDouble()) : p.Value.GetString());
        }

        AnsiConsole.Write(numbers);
        if (report.TryGetProperty("gate", out var gate) && gate.TryGetProperty("checks", out var checks) && checks.ValueKind == JsonValueKind.Array)
        {
            var table = CliHost.Table("CHECK", "METRIC", "VALUE", "THRESHOLD", "PASSED");
            foreach (var c in checks.EnumerateArray())
            {
                // Numbers as the report above shows them; a check without a threshold (finite outputs) shows none.
                string Cell(string field) => c.TryGetProperty(field, out var v) && v.ValueKind != JsonValueKind.Null
                    ? v.ValueKind == JsonValueKind.Number ? WorkerJobFollower.Number(v.GetDouble()) : Get(c, field)
                    : "";
                table.Row(Get(c, "name"), Get(c, "metric"), Cell("value"), Cell("threshold"), Get(c, "passed"));
            }

            AnsiConsole.Write(table);
        }
    }

    /// <summary>
    /// The options object sent: <paramref name="json"/> (from --options or --options-file), then each -o name=value (dotted names reach
    /// into nested objects), then --fine-tune and --fine-tune-epochs into <c>fine_tune</c>; null when none is given.
    /// Mistakes the CLI can see are usage errors naming the flag.
    /// </summary>
    public static Dictionary<string, JsonElement>? Options(string method, JsonElement? json, string[]? pairs, string? fineTuneDataset, int? fineTuneEpochs)
    {
        if (json is null && pairs is null or { Length: 0 } && fineTuneDataset is null && fineTuneEpochs is null)
        {
            return null;
        }

        if (json is { } given && given.ValueKind != JsonValueKind.Object)
        {
            throw Usage($"--options (or the file of --options-file) must be a JSON object such as {{\"ratio\": 0.5, \"fine_tune\": {{\"dataset\": \"shapes:1\"}}}}, not a " +
                $"{Kind(given.ValueKind)}");
        }

        var options = json is { } o ? JsonNode.Parse(o.GetRawText())!.AsObject() : new JsonObject();
        foreach (var pair in pairs ?? [])
        {
            var split = pair.IndexOf('=', StringComparison.Ordinal);
            var path = split > 0 ? pair[..split].Split('.') : [];
            if (path.Length == 0 || path.Any(string.IsNullOrEmpty))
            {
                throw Usage($"-o '{pair}' is not name=value (a nested field: fine_tune.hyperparameters.epochs=3)");
            }

            var parent = options;
            for (var i = 0; i < path.Length - 1; i++)
            {
                parent = Child(parent, path[i], $"-o {pair}", string.Join('.', path[..(i + 1)]));
            }

            parent[path[^1]] = Value(pair[(split + 1)..], $"-o {pair}", asText: TextOptions.Contains(path[^1]));
        }

        if (fineTuneDataset is not null || fineTuneEpochs is not null)
        {
            if (method is not ("prune-magnitude" or "prune-structured"))
            {
                throw Usage($"--fine-tune and --fine-tune-epochs go with prune-magnitude and prune-structured (they train the pruned network), not {method}");
            }

            var fineTune = Child(options, "fine_tune", fineTuneDataset is not null ? "--fine-tune" : "--fine-tune-epochs", "fine_tune");
            if (fineTuneDataset is not null)
            {
                var colon = fineTuneDataset.LastIndexOf(':');
                if (fineTuneDataset.Length == 0 || colon == 0
                    || (colon > 0 && !(int.TryParse(fineTuneDataset[(colon + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out var number) && number >= 1)))
                {
                    throw Usage($"--fine-tune takes a dataset as name or name:version (a version number from 1), not '{fineTuneDataset}'");
                }

                fineTune["dataset"] = fineTuneDataset;
            }

            if (fineTuneEpochs is { } epochs)
            {
                if (epochs < 1)
                {
                    throw Usage($"--fine-tune-epochs must be 1 or more, not {epochs}");
                }

                if (fineTune["dataset"] is null)
                {
                    throw Usage("--fine-tune-epochs needs the dataset to train on: --fine-tune DATASET[:VERSION] (or fine_tune.dataset in --options)");
                }

                Child(fineTune, "hyperparameters", "--fine-tune-epochs", "fine_tune.hyperparameters")["epochs"] = epochs;
            }
        }

        return options.ToDictionary(p => p.Key, p => JsonSerializer.SerializeToElement(p.Value), StringComparer.Ordinal);
    }

    // --options (JSON, or @FILE) or --options-file.
    private static async Task<JsonElement?> OptionsJsonAsync(string? text, FileInfo? file, CancellationToken ct)
    {
        if (file is null)
        {
            return TrainCommand.Json(text, "--options");
        }

        if (text is not null)
        {
            throw Usage("give the options with --options or with --options-file, not both");
        }

        if (!file.Exists)
        {
            throw new CliException("file_not_found", $"--options-file: no file {file.FullName}");
        }

        return TrainCommand.Json(await File.ReadAllTextAsync(file.FullName, ct), "--options-file");
    }

    // The object under name in parent, made when missing; anything else there is a usage error.
    private static JsonObject Child(JsonObject parent, string name, string flag, string path)
    {
        switch (parent[name])
        {
            case JsonObject existing:
                return existing;
            case null:
                var made = new JsonObject();
                parent[name] = made;
                return made;
            case var other:
                throw Usage($"{flag}: options.{path} is already {other.ToJsonString()}, not an object to set a field in");
        }
    }

    // Options whose value is always text: a dataset or column may be named "2024" or "true", which must not become a number or a boolean.
    private static readonly HashSet<string> TextOptions = new(StringComparer.Ordinal)
    {
        "type", "imatrix", "imatrix_column", "level", "weight_type", "calibration", "calibration_method", "channel_order", "dataset", "label", "output", "trainer",
    };

    // Numbers and booleans as JSON numbers and booleans (unless the option takes text), { or [ as JSON, anything else as text (type=q4_k_m).
    private static JsonNode? Value(string text, string flag, bool asText = false)
    {
        if (text.StartsWith('{') || text.StartsWith('['))
        {
            try
            {
                return JsonNode.Parse(text);
            }
            catch (JsonException e)
            {
                throw Usage($"{flag}: the value is not valid JSON: {e.Message}");
            }
        }

        if (asText)
        {
            return JsonValue.Create(text);
        }

        // NaN and infinities are no JSON numbers: they stay text, which the server refuses by name.
        if (double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var number) && double.IsFinite(number))
        {
            return number;
        }

        return bool.TryParse(text, out var flagValue) ? JsonValue.Create(flagValue) : JsonValue.Create(text);
    }

    private static string Kind(JsonValueKind kind) => kind switch
    {
        JsonValueKind.Array => "list",
        JsonValueKind.String => "string",
        JsonValueKind.Number => "number",
        JsonValueKind.True or JsonValueKind.False => "boolean",
        _ => "null",
    };

    private static CliException Usage(string message) => new("usage", message, ExitCodes.Usage);
}
