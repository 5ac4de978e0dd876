using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Maas.Cli.Hosting;
using Maas.Client;
using Maas.Client.Jobs;
using Spectre.Console;

namespace Maas.Cli.Commands;

/// <summary><c>maas jobs list|show|cancel|logs</c>: background jobs (imports, training, optimisation, fine-tuning).</summary>
public static class JobsCommands
{
    /// <summary>The <c>jobs</c> command with its subcommands.</summary>
    public static Command Create()
    {
        var jobs = new Command("jobs", "Background jobs (imports, training, optimisation, fine-tuning): list, show, cancel, logs");
        jobs.Subcommands.Add(List());
        jobs.Subcommands.Add(Show());
        jobs.Subcommands.Add(Cancel());
        jobs.Subcommands.Add(Logs());
        return jobs;
    }

    private static Command List()
    {
        var limit = new Option<int?>("--limit") { Description = "At most this many, newest first (default 100); more than 1000 are read a page at a time" }.Between(1,
            int.MaxValue);
        var all = new Option<bool>("--all") { Description = "Every job, read a page of 1000 at a time (instead of --limit)" };
        var before = new Option<string?>("--before") { Description = "Start after this place: the 'older jobs' cursor an earlier list printed (next_before)" };
        var kind = new Option<string?>("--kind") { Description = "Only jobs of this kind: import, training, optimization, fine-tune, evaluation" };
        kind.AcceptOnlyFromAmong("import", "training", "optimization", "fine-tune", "evaluation");
        var list = new Command("list", "The newest jobs of every kind") { limit, all, before, kind };
        list.Aliases.Add("ls");
        list.SetAction(async (parse, client, ct) =>
        {
            var wantsAll = parse.GetValue(all);
            if (wantsAll && parse.GetValue(limit) is not null)
            {
                throw new CliException("usage", "give --limit or --all, not both", ExitCodes.Usage);
            }

            var (found, next) = await ListAsync(client, parse.GetValue(kind), parse.GetValue(before), wantsAll ? null : parse.GetValue(limit) ?? 100, ct);
            return CliHost.Print(parse, found, items => PrintList(items, next, parse.GetValue(kind)));
        });
        return list;
    }

    // The table, and where the older jobs start when some remain.
    // The version a finished job registered ("v2", with "ready" or "rejected" for an optimisation; "MODEL v1" when it
    // is another model's, as a fine-tune's): VERSION is the version an optimisation started from, and a training job
    // has none, so the table did not say what came out.
    private static string? Made(JobInfo job)
    {
        if (job.Result is not { ValueKind: JsonValueKind.Object } result || !result.TryGetProperty("version", out var version) || version.ValueKind != JsonValueKind.Number)
        {
            return null;
        }

        var model = result.TryGetProperty("model", out var m) && m.ValueKind == JsonValueKind.String && m.GetString() != job.Model ? $"{m.GetString()} " : "";
        var status = result.TryGetProperty("status", out var s) && s.ValueKind == JsonValueKind.String ? $" {s.GetString()}" : "";
        return $"{model}v{version.GetRawText()}{status}";
    }

    private static void PrintList(List<JobInfo> items, string? next, string? kind)
    {
        var table = CliHost.Table("ID", "KIND", "STATUS", "MODEL", "VERSION", "RESULT", "PROGRESS", "STAGE", "CREATED");
        foreach (var j in items)
        {
            table.Row(j.Id, j.Kind, j.Status, j.Model, j.Version, Made(j), j.Progress is { } p ? $"{p:0}%" : "", j.Stage, j.CreatedAt);
        }

        AnsiConsole.Write(table);
        if (next is not null)
        {
            AnsiConsole.WriteLine($"older jobs: maas jobs list --before {next}{(kind is { } k ? $" --kind {k}" : "")}");
        }
    }

    private static Command Show()
    {
        var id = new Argument<string>("id") { Description = "Job id" };
        var show = new Command("show", "One job") { id };
        show.SetAction(async (parse, client, ct) =>
        {
            var job = await client.GetJobAsync(parse.GetValue(id)!, ct);
            return CliHost.Print(parse, job, Describe);
        });
        return show;
    }

    private static Command Cancel()
    {
        var id = new Argument<string>("id") { Description = "Job id" };
        var cancel = new Command("cancel", "Cancel a running job") { id };
        cancel.SetAction(async (parse, client, ct) =>
        {
            var job = await client.CancelJobAsync(parse.GetValue(id)!, ct);
            return CliHost.Print(parse, job, j => Console.Out.WriteLine($"job {j.Id} {j.Status}"));
        });
        return cancel;
    }

    private static Command Logs()
    {
        var id = new Argument<string>("id") { Description = "Job id" };
        var logs = new Command("logs", "The job's progress as lines (imports: stage and amount; training, optimisation, fine-tuning: their events, epochs and metrics), " +
            "following it until it ends") { id };
        logs.SetAction(async (parse, client, ct) =>
        {
            var first = await client.GetJobAsync(parse.GetValue(id)!, ct);
            return Outcome(first.Kind is null or "import"
                ? await ImportLogAsync(parse, client, first.Id, ct)
                : await EventLogAsync(parse, client, first.Id, ct));
        });
        return logs;
    }

    // An import's changes of stage, status or amount as lines (JSON Lines of the job with --json) until it ends.
    private static Task<JobInfo> ImportLogAsync(ParseResult parse, MaasClient client, string id, CancellationToken ct)
    {
        string? last = null;
        return client.WaitForJobAsync(
            id,
            new Sink<JobInfo>(j =>
            {
                var line = $"{j.Status} {j.Stage} {ModelsCommands.Amount(j)}";
                if (line == last)
                {
                    return;
                }

                last = line;
                if (parse.WantsJson())
                {
                    Console.Out.WriteLine(System.Text.Json.JsonSerializer.Serialize(j, MaasJson.Options));
                }
                else
                {
                    var when = (j.UpdatedAt ?? DateTimeOffset.UtcNow).ToUniversalTime().ToString("HH:mm:ss", CultureInfo.InvariantCulture);
                    Console.Out.WriteLine($"{when} {j.Status,-9} {j.Stage,-12} " +
                        $"{ModelsCommands.Amount(j)}{(j.Progress is { } p ? $" ({p:0}%)" : "")}{(j.Error is { } e ? $" {e.Code}: {e.Message}" : "")}");
                }
            }),
            cancellationToken: ct);
    }

    /// <summary>
    /// Up to <paramref name="max"/> jobs (every job when null) after <paramref name="before"/>, newest first, following
    /// the server's pages of at most 1000; and where the next page would start (null when no job follows).
    /// </summary>
    internal static async Task<(List<JobInfo> Jobs, string? Next)> ListAsync(MaasClient client, string? kind, string? before, int? max, CancellationToken ct)
    {
        var jobs = new List<JobInfo>();
        var next = before;
        do
        {
            var page = await client.ListJobsBeforeAsync(next, Math.Min(1000, max is { } m ? m - jobs.Count : 1000), kind, ct);
            jobs.AddRange(page.Jobs);
            next = page.NextBefore;
        }
        while (next is not null && (max is null || jobs.Count < max));
        return (jobs, next);
    }

    /// <summary>
    /// Follows a job with a progress bar until it ends; prints it, and fails with its error when it failed. Interrupted
    /// (Ctrl+C), it says the job goes on and how to follow or cancel it (exit 130).
    /// </summary>
    public static async Task<int> FollowAsync(ParseResult parse, MaasClient client, JobInfo job, CancellationToken ct)
    {
        JobInfo ended;
        try
        {
            // The server's percent, with the stage on the bar; a job that failed ends where it stopped, not at 100%.
            ended = await ProgressDisplay.RunAsync(
                parse,
                $"job {job.Id} ({job.Kind})",
                100,
                bytes: false,
                progress => client.WaitForJobAsync(job.Id, new Sink<JobInfo>(j => progress.Report(new ProgressReport(Percent(j), j.Stage))), cancellationToken: ct),
                Percent);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            // Ctrl+C stops the following, not the import on the server.
            throw WorkerJobFollower.Interrupted(job.Id);
        }

        if (ended.Status != "succeeded")
        {
            if (parse.WantsJson())
            {
                CliHost.PrintJson(ended);
            }

            return Outcome(ended);
        }

        return CliHost.Print(parse, ended, Describe);
    }

    // A worker-run job's events as lines (JSON Lines of the events with --json) until it ends.
    private static async Task<JobInfo> EventLogAsync(ParseResult parse, MaasClient client, string id, CancellationToken ct)
    {
        long after = 0;
        string? stage = null;
        while (true)
        {
            var job = await client.GetJobAsync(id, ct);
            JobEventPage page;
            do
            {
                page = await client.ListJobEventsAsync(id, after, 500, ct);
                after = page.NextAfter;
                foreach (var e in page.Events)
                {
                    if (parse.WantsJson())
                    {
                        Console.Out.WriteLine(System.Text.Json.JsonSerializer.Serialize(e, MaasJson.Options));
                    }
                    else if (WorkerJobFollower.Line(e, ref stage) is { } line)
                    {
                        Console.Out.WriteLine(line);
                    }
                }
            }
            while (page.Events.Count == 500);

            if (job.Finished)
            {
                return job;
            }

            await Task.Delay(TimeSpan.FromMilliseconds(300), ct);
        }
    }

    // A followed job's whole percent (rounded down: 99.6% is not done); 100 only for one that succeeded.
    private static long Percent(JobInfo job) => job.Status == "succeeded" ? 100 : (long)Math.Min(99, job.Progress ?? 0);

    private static int Outcome(JobInfo job) => job.Status switch
    {
        "succeeded" => ExitCodes.Ok,
        "failed" => CliHost.Fail(job.Error?.Code ?? "job_failed", $"job {job.Id} failed: {job.Error?.Message ?? "no reason given"}", ExitCodes.JobFailed),
        _ => CliHost.Fail("job_cancelled", $"job {job.Id} was cancelled", ExitCodes.JobFailed),
    };

    private static void Describe(JobInfo j)
    {
        var fields = new FieldList();
        fields.Add("id", j.Id);
        fields.Add("kind", j.Kind);
        fields.Add("status", j.Status);
        fields.Add("model", j.Model);
        fields.Add("version", j.Version);
        fields.Add("stage", j.Stage);
        // Bytes are an import's measure; training, optimisation, fine-tuning and evaluation jobs have none ("0 B" said nothing).
        var amount = j.BytesDone is null && j.BytesTotal is null ? null : ModelsCommands.Amount(j);
        fields.Add("progress", (j.Progress, amount) switch
        {
            ({ } p, { } a) => $"{p:0}% ({a})",
            ({ } p, null) => $"{p:0}%",
            (null, var a) => a,
        });
        fields.Add("error", j.Error is { } e ? $"{e.Code}: {e.Message}" : null);
        fields.Add("result", j.Result?.ToString());
        fields.Add("created", j.CreatedAt);
        fields.Add("finished", j.FinishedAt);
        fields.Write();
    }

    private sealed class Sink<T>(Action<T> report) : IProgress<T>
    {
        public void Report(T value) => report(value);
    }
}
