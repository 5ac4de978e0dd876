using System.CommandLine;
using System.Globalization;
using System.Text.Json;
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
        var version = new Argument<int>("version") { Description = "The source version" };
        var method = new Option<string>("--method") { Description = "gguf-quantize, onnx-fp16, onnx-int8-dynamic, onnx-int4, onnx-optimize, prune-magnitude, prune-structured", Required = true };
        var option = new Option<string[]>("--option", "-o") { Description = "A method option name=value (repeatable): type=q4_k_m, level=extended, sparsity=0.5, samples=8, ..." };
        var gate = new Option<string[]>("--gate") { Description = "A gate threshold name=number (repeatable): max_relative_mean_abs_diff=0.05, min_top1_agreement=0.99, max_perplexity_increase=0.1, ..." };
        var alias = new Option<string?>("--alias") { Description = "Point this alias at the new version when the gate passes" };
        var noWait = new Option<bool>("--no-wait") { Description = "Print the job and return at once" };
        var command = new Command("optimize", $"Make a new version with an optimisation method, measured against its source and registered ready or rejected by a gate; a version the gate rejects exits {ExitCodes.Rejected}")
        {
            model, version, method, option, gate, alias, noWait,
        };
        command.Aliases.Add("optimise");
        command.SetAction(async (parse, client, ct) =>
        {
            var options = ModelsCommands.ParsePairs(parse.GetValue(option))?.ToDictionary(kv => kv.Key, kv => Value(kv.Value), StringComparer.Ordinal);
            var thresholds = ModelsCommands.ParsePairs(parse.GetValue(gate))?.ToDictionary(
                kv => kv.Key,
                kv => double.TryParse(kv.Value, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) ? d : throw new CliException("usage", $"--gate {kv.Key}={kv.Value}: the value is not a number", ExitCodes.Usage),
                StringComparer.Ordinal);
            var job = await client.OptimizeVersionAsync(parse.GetValue(model)!, parse.GetValue(version), parse.GetValue(method)!, options, thresholds, parse.GetValue(alias), ct);
            if (parse.GetValue(noWait))
            {
                return CliHost.Print(parse, job, j => Console.Out.WriteLine($"submitted optimisation job {j.Id} ({j.Status}); follow it with: maas jobs logs {j.Id}"));
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
        if (!result.TryGetProperty("report", out var report) || report.ValueKind != JsonValueKind.Object)
        {
            return;
        }

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
                table.Row(Get(c, "name"), Get(c, "metric"), Get(c, "value"), Get(c, "threshold"), Get(c, "passed"));
            }

            AnsiConsole.Write(table);
        }
    }

    // Numbers and booleans as JSON numbers and booleans, anything else as text (type=q4_k_m).
    private static JsonElement Value(string text)
    {
        if (double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var number))
        {
            return JsonSerializer.SerializeToElement(number);
        }

        return bool.TryParse(text, out var flag) ? JsonSerializer.SerializeToElement(flag) : JsonSerializer.SerializeToElement(text);
    }
}
