using System.CommandLine;
using System.Text.Json;
using Maas.Cli.Hosting;
using Maas.Client.Jobs;
using Spectre.Console;

namespace Maas.Cli.Commands;

/// <summary><c>maas evaluate MODEL --version N --dataset NAME[:VERSION]</c>: a version MaaS trained, scored on a labelled dataset.</summary>
public static class EvaluateCommand
{
    /// <summary>The <c>evaluate</c> command.</summary>
    public static Command Create()
    {
        var model = new Argument<string>("model") { Description = "Model name" };
        var version = new Option<int?>("--version") { Description = "The version to evaluate (one a MaaS training job registered)", Required = true }.VersionNumber();
        var dataset = new Option<string>("--dataset") { Description = "The labelled dataset: name or name:version", Required = true };
        var label = new Option<string?>("--label") { Description = "The column with the true answers (default: the one the version was trained with)" };
        var limit = new Option<int?>("--limit") { Description = "Score at most this many labelled rows (the first ones)" };
        var follow = new Option<bool>("--follow") { Description = "Follow the job to its end with a progress bar and print its metrics; exits 8 when it fails" };
        var command = new Command("evaluate", "Evaluate a trained version on a labelled dataset (and follow it with --follow)")
        {
            model, version, dataset, label, limit, follow,
        };
        command.SetAction(async (parse, client, ct) =>
        {
            if (parse.GetValue(limit) is < 1)
            {
                throw new CliException("usage", $"--limit must be at least 1, not {parse.GetValue(limit)}", ExitCodes.Usage);
            }

            var name = parse.GetValue(model)!;
            var number = parse.GetValue(version)!.Value;
            var job = await client.EvaluateVersionAsync(name, number, parse.GetValue(dataset)!, parse.GetValue(label), parse.GetValue(limit), ct);
            if (!parse.GetValue(follow))
            {
                return CliHost.Print(parse, job, j => Console.Out.WriteLine($"submitted evaluation job {j.Id} ({j.Status}); follow it with: maas jobs logs {j.Id}"));
            }

            if (!parse.WantsJson())
            {
                Console.Out.WriteLine($"evaluation job {job.Id}: {name} version {number} on {parse.GetValue(dataset)}");
            }

            var ended = await OptimizeCommand.FollowAsync(parse, client, job.Id, ct);
            return Outcome(parse, ended);
        });
        return command;
    }

    /// <summary>Prints the ended evaluation (its metrics as a table, or the job as JSON) and turns its status into the exit code.</summary>
    public static int Outcome(ParseResult parse, JobInfo job)
    {
        if (parse.WantsJson())
        {
            CliHost.PrintJson(job);
        }
        else if (job.Status == "succeeded" && job.Result is { ValueKind: JsonValueKind.Object } result)
        {
            PrintMetrics(result);
        }

        return job.Status switch
        {
            "succeeded" => ExitCodes.Ok,
            "failed" => CliHost.Fail(job.Error?.Code ?? "job_failed", $"job {job.Id} failed: {job.Error?.Message ?? "no reason given"}", ExitCodes.JobFailed),
            _ => CliHost.Fail("job_cancelled", $"job {job.Id} was cancelled", ExitCodes.JobFailed),
        };
    }

    /// <summary>An evaluation's result: the dataset, the headline metrics, then per class and the confusion matrix when there are classes.</summary>
    public static void PrintMetrics(JsonElement result)
    {
        if (result.TryGetProperty("dataset", out var d) && d.ValueKind == JsonValueKind.Object)
        {
            Console.Out.WriteLine($"dataset {d.GetProperty("name").GetString()}:{d.GetProperty("version").GetRawText()} (sha256 {d.GetProperty("sha256").GetString()})");
        }

        var table = CliHost.Table("METRIC", "VALUE");
        foreach (var metric in result.EnumerateObject().Where(p => p.Value.ValueKind == JsonValueKind.Number))
        {
            table.Row(metric.Name, WorkerJobFollower.Number(metric.Value.GetDouble()));
        }

        AnsiConsole.Write(table);
        if (result.TryGetProperty("per_class", out var perClass) && perClass.ValueKind == JsonValueKind.Object)
        {
            var classes = CliHost.Table("CLASS", "PRECISION", "RECALL", "F1", "SUPPORT");
            foreach (var c in perClass.EnumerateObject())
            {
                string Cell(string field) => c.Value.TryGetProperty(field, out var v) && v.ValueKind == JsonValueKind.Number ? WorkerJobFollower.Number(v.GetDouble()) : "";
                classes.Row(c.Name, Cell("precision"), Cell("recall"), Cell("f1"), Cell("support"));
            }

            AnsiConsole.Write(classes);
        }

        if (result.TryGetProperty("confusion_matrix", out var confusion) && confusion.TryGetProperty("labels", out var labels) &&
            confusion.TryGetProperty("matrix", out var matrix))
        {
            var names = labels.EnumerateArray().Select(l => l.ToString()).ToArray();
            var grid = CliHost.Table(["TRUE \\ PREDICTED", .. names]);
            var r = 0;
            foreach (var row in matrix.EnumerateArray())
            {
                grid.Row([r < names.Length ? names[r] : "?", .. row.EnumerateArray().Select(v => (object?)v.GetRawText())]);
                r++;
            }

            AnsiConsole.Write(grid);
        }
    }
}
