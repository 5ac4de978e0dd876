using System.Globalization;
using System.Text.Json;
using Maas.Core.Jobs;
using Maas.Core.Jobs.Queue;
using Maas.Core.Registry;
using Maas.Core.Training;

namespace Maas.Training;

/// <summary>
/// The search part of a training job: enqueues each trial as a child job (fixed ids, so a parent taken over by another
/// worker finds the children it already made), runs waiting trials itself while others' workers take the rest, and
/// picks the best by the validation metric.
/// </summary>
internal static class TrainingSearchRunner
{
    private static readonly TimeSpan Poll = TimeSpan.FromMilliseconds(250);

    /// <summary>The percent of the job the trials take; the final training of the best reports within the rest.</summary>
    private const double TrialsEnd = 60;

    /// <summary>The spec with the best trial's hyperparameters (and no search left), and the report of every trial.</summary>
    public static async Task<(TrainingSpec Best, object Report)> RunAsync(JobRun run, TrainingSpec spec)
    {
        var search = spec.Search!;
        var ids = await EnqueueTrialsAsync(run, spec, search);
        await run.EventAsync("log", new { message = $"{search.Method} search: {ids.Length} trials as child jobs, best by validation {search.Metric}" });
        await WaitForTrialsAsync(run, ids, search);

        var finished = new List<QueuedJob>();
        foreach (var id in ids)
        {
            finished.Add((await run.Queue.GetAsync(id, CancellationToken.None))!);
        }

        var winner = Best(finished, search) ?? throw new JobFailedException(
            "search_failed",
            $"none of the {ids.Length} trials succeeded (first error: {finished.Select(c => c.Error?.Message).FirstOrDefault(m => m is not null) ?? "none reported"})");
        var report = Report(ids, finished, winner, search);
        await run.EventAsync("log", new
        {
            message = $"best trial {winner.Result.Index + 1} of {ids.Length} ({ids[winner.Result.Index]}): validation {search.Metric} " +
                $"{winner.Value.ToString("G6", CultureInfo.InvariantCulture)}; training it on the training split and registering",
        });
        run.ReportLaterWithin(TrialsEnd, 100);
        return (spec with { Search = null, Hyperparameters = winner.Result.Hyperparameters }, report);
    }

    /// <summary>Enqueues each trial that is not in the queue yet (a parent taken over finds those it made) and returns the ids of all.</summary>
    private static async Task<string[]> EnqueueTrialsAsync(JobRun run, TrainingSpec spec, TrainingSearch search)
    {
        var ids = new string[search.Trials.Count];
        for (var i = 0; i < ids.Length; i++)
        {
            ids[i] = TrialSpec.JobId(run.Job.Id, i);
            if (await run.Queue.GetAsync(ids[i], run.CancellationToken) is not null)
            {
                continue;
            }

            var trialSpec = new TrialSpec(spec with { Search = null, Alias = null, Hyperparameters = search.Trials[i] }, run.Job.Id, i);
            var now = run.Time.GetUtcNow();
            await run.Queue.EnqueueAsync(
                new QueuedJob
                {
                    Id = ids[i],
                    Kind = TrialSpec.Kind,
                    Tenant = run.Job.Tenant,
                    Status = JobStatus.Queued,
                    Spec = JsonSerializer.Serialize(trialSpec, RegistryJson.Options),
                    CreatedBy = run.Job.CreatedBy,
                    CreatedAt = now,
                    UpdatedAt = now,
                },
                run.CancellationToken);
        }

        return ids;
    }

    /// <summary>
    /// Reports each trial as it finishes and the search's progress until all have finished, running waiting trials here
    /// meanwhile; when the job is cancelled, asks every trial to cancel too.
    /// </summary>
    private static async Task WaitForTrialsAsync(JobRun run, string[] ids, TrainingSearch search)
    {
        var reported = new HashSet<string>(StringComparer.Ordinal);
        var started = run.Time.GetTimestamp();
        int? doneAtStart = null;
        var lastDone = -1;
        try
        {
            while (true)
            {
                var children = new List<QueuedJob>(ids.Length);
                foreach (var id in ids)
                {
                    children.Add(await run.Queue.GetAsync(id, run.CancellationToken) ?? throw new JobFailedException("trial_lost", $"trial job {id} disappeared"));
                }

                foreach (var child in children.Where(c => c.IsFinished && reported.Add(c.Id)))
                {
                    // The event carries the count, so a reader can say "trial 3 of 8" without the job.
                    var trial = Describe(child, search);
                    trial["trials"] = ids.Length;
                    await run.EventAsync("trial", trial);
                }

                var done = children.Count(c => c.IsFinished);
                var best = Best(children, search);

                // The time left: the trials still to run and the training of the best after them, at the pace of the
                // trials finished since this worker took the job (one taken over finds some done already); unknown
                // until one has.
                doneAtStart ??= done;
                var finishedHere = done - doneAtStart.Value;
                double? eta = finishedHere > 0 ? run.Time.GetElapsedTime(started).TotalSeconds / finishedHere * (ids.Length - done + 1) : null;
                await run.ReportAsync(
                    new JobProgress
                    {
                        Percent = 1 + ((TrialsEnd - 1) * done / ids.Length),
                        Stage = "searching",
                        Iteration = done,
                        Metrics = best is null ? null : new Dictionary<string, double> { ["best_validation_" + search.Metric] = best.Value.Value },
                        EtaSeconds = eta,
                    },
                    milestone: done != lastDone);
                lastDone = done;
                if (done == ids.Length)
                {
                    return;
                }

                // Run a waiting trial here rather than idle: with one worker, nobody else would.
                if (!await run.RunWaitingJobAsync(TrialSpec.Kind))
                {
                    await Task.Delay(Poll, run.Time, run.CancellationToken);
                }
            }
        }
        catch (OperationCanceledException)
        {
            foreach (var id in ids)
            {
                await run.Queue.RequestCancelAsync(id, run.Time.GetUtcNow(), CancellationToken.None);
            }

            throw;
        }
    }

    /// <summary>The search's report: its method and metric, the winner and every trial.</summary>
    private static Dictionary<string, object?> Report(string[] ids, List<QueuedJob> finished, (TrialResult Result, double Value) winner, TrainingSearch search) => new()
    {
        ["method"] = search.Method,
        ["metric"] = "validation_" + search.Metric,
        ["maximize"] = search.Maximize,
        ["best"] = new Dictionary<string, object?>
        {
            ["trial"] = winner.Result.Index,
            ["job"] = ids[winner.Result.Index],
            ["hyperparameters"] = winner.Result.Hyperparameters,
            ["value"] = winner.Value
        },
        ["trials"] = finished.Select(c => Describe(c, search)).ToArray(),
    };

    private static (TrialResult Result, double Value)? Best(IEnumerable<QueuedJob> children, TrainingSearch search)
    {
        (TrialResult, double)? best = null;
        foreach (var child in children.Where(c => c.Status == JobStatus.Succeeded && c.Result is not null))
        {
            var result = JsonSerializer.Deserialize<TrialResult>(child.Result!, RegistryJson.Options)!;
            if (!result.Metrics.TryGetValue(search.Metric, out var value) || !double.IsFinite(value))
            {
                continue;
            }

            // Ties go to the earlier trial, so the choice is the same on every run.
            if (best is null || (search.Maximize ? value > best.Value.Item2 : value < best.Value.Item2))
            {
                best = (result, value);
            }
        }

        return best;
    }

    private static Dictionary<string, object?> Describe(QueuedJob child, TrainingSearch search)
    {
        var index = int.Parse(child.Id[(child.Id.LastIndexOf("-trial", StringComparison.Ordinal) + 6)..], CultureInfo.InvariantCulture);
        var result = child.Status == JobStatus.Succeeded && child.Result is not null ? JsonSerializer.Deserialize<TrialResult>(child.Result, RegistryJson.Options) : null;
        return new Dictionary<string, object?>
        {
            ["trial"] = index,
            ["job"] = child.Id,
            ["status"] = child.Status.ToString().ToLowerInvariant(),
            ["hyperparameters"] = search.Trials[index],
            ["metrics"] = result?.Metrics,
            ["error"] = child.Error?.Message,
        };
    }
}
