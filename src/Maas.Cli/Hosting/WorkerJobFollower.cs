using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Maas.Client;
using Maas.Client.Jobs;
using Spectre.Console;

namespace Maas.Cli.Hosting;

/// <summary>
/// Follows a worker-run job (training, optimisation, fine-tuning) until it ends: a live bar whose label carries the
/// epoch and latest metrics at a terminal, one line per event (epoch, trial, metrics, log, stage) when the output is
/// redirected, nothing with <c>--json</c> (the caller prints the final job).
/// </summary>
public static class WorkerJobFollower
{
    /// <summary>How the follower reads one kind of job.</summary>
    /// <param name="Poll">Reads the job's current state.</param>
    /// <param name="Finished">True once it ended.</param>
    /// <param name="Percent">Its progress in percent.</param>
    /// <param name="Label">A short label of its state (epoch, metrics) for the bar.</param>
    public sealed record Reader<T>(Func<CancellationToken, Task<T>> Poll, Func<T, bool> Finished, Func<T, double> Percent, Func<T, string> Label);

    /// <summary>
    /// Follows job <paramref name="id"/> and returns its final state. Interrupted (Ctrl+C), it stops following, not the
    /// job, and says so: a <see cref="CliException"/> (exit 130) naming the commands that follow or cancel it.
    /// </summary>
    public static async Task<T> FollowAsync<T>(ParseResult parse, MaasClient client, string id, Reader<T> reader, CancellationToken ct)
    {
        try
        {
            return await FollowUntilEndAsync(parse, client, id, reader, ct);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            throw Interrupted(id);
        }
    }

    /// <summary>The failure of a follow interrupted by Ctrl+C (exit 130): the job goes on, and how to follow or cancel it.</summary>
    public static CliException Interrupted(string id) =>
        new("interrupted", $"stopped following job {id}, which goes on on the server: 'maas jobs logs {id}' follows it again, 'maas jobs cancel {id}' stops it",
        ExitCodes.Interrupted);

    // At most once per interval the job is read again, with the events that came meanwhile.
    private static readonly TimeSpan Interval = TimeSpan.FromMilliseconds(300);

    // One of three displays: the ended job alone (--json), a line per event (redirected output), or a live bar.
    private static Task<T> FollowUntilEndAsync<T>(ParseResult parse, MaasClient client, string id, Reader<T> reader, CancellationToken ct)
    {
        if (parse.WantsJson())
        {
            return PollUntilEndAsync(reader, ct);
        }

        var events = new EventCursor(client, id);
        return CliHost.Interactive ? FollowWithBarAsync(id, reader, events, ct) : FollowAsLinesAsync(reader, events, ct);
    }

    // --json: only the ended job is printed (by the caller), so only the job is read.
    private static async Task<T> PollUntilEndAsync<T>(Reader<T> reader, CancellationToken ct)
    {
        while (true)
        {
            var job = await reader.Poll(ct);
            if (reader.Finished(job))
            {
                return job;
            }

            await Task.Delay(Interval, ct);
        }
    }

    // Redirected output: one line per event worth a line.
    private static async Task<T> FollowAsLinesAsync<T>(Reader<T> reader, EventCursor events, CancellationToken ct)
    {
        string? stage = null;
        while (true)
        {
            var job = await reader.Poll(ct);
            foreach (var e in await events.NextAsync(ct))
            {
                if (Line(e, ref stage) is { } line)
                {
                    Console.Out.WriteLine(line);
                }
            }

            if (reader.Finished(job))
            {
                return job;
            }

            await Task.Delay(Interval, ct);
        }
    }

    // A terminal: a live bar labelled with the job's state; epochs, trials and metrics stay on screen above it.
    private static async Task<T> FollowWithBarAsync<T>(string id, Reader<T> reader, EventCursor events, CancellationToken ct)
    {
        string? stage = null;
        T last = default!;
        // Cleared at the end: the caller prints how the job ended, and a bar left behind showed only its squeezed label
        // ("…", the metrics being wider than the room the bar's columns leave it).
        await AnsiConsole.Progress()
            .AutoClear(true)
            .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new SpinnerColumn())
            .StartAsync(async context =>
            {
                var task = context.AddTask(Markup.Escape($"job {id}"), maxValue: 100);
                while (true)
                {
                    last = await reader.Poll(ct);
                    foreach (var e in await events.NextAsync(ct))
                    {
                        // Progress and stages only move the bar.
                        if (e.Type is not ("progress" or "checkpoint" or "status") && Line(e, ref stage) is { } line)
                        {
                            AnsiConsole.WriteLine(line);
                        }
                    }

                    task.Description = Markup.Escape(Fit($"job {id} {reader.Label(last)}".TrimEnd(), AnsiConsole.Profile.Width - BarColumnsWidth));
                    task.Value = Math.Clamp(reader.Percent(last), 0, 100);
                    if (reader.Finished(last))
                    {
                        break;
                    }

                    await Task.Delay(Interval, ct);
                }
            });
        return last;
    }

    // What the bar's other columns take of a line: bar 40, percent, elapsed time, spinner and the gaps.
    private const int BarColumnsWidth = 62;

    // A label cut to the room it has, so the bar never squeezes it into an ellipsis alone.
    private static string Fit(string label, int room) =>
        label.Length <= Math.Max(room, 20) ? label : string.Concat(label.AsSpan(0, Math.Max(room, 20) - 1), "…");

    // The job's events not read yet, through the jobs API (which holds them for every worker-run kind), a page at a time.
    private sealed class EventCursor(MaasClient client, string id)
    {
        private const int PageSize = 500;
        private long _after;

        public async Task<IReadOnlyList<JobEvent>> NextAsync(CancellationToken ct)
        {
            var all = new List<JobEvent>();
            while (true)
            {
                var page = await client.ListJobEventsAsync(id, _after, PageSize, ct);
                all.AddRange(page.Events);
                _after = page.NextAfter;
                if (page.Events.Count < PageSize)
                {
                    return all;
                }
            }
        }
    }

    /// <summary>Metrics as a person reads them: <c>train_loss 0.4123, validation_loss 0.5</c>.</summary>
    public static string Metrics(IEnumerable<KeyValuePair<string, double>>? metrics) =>
        string.Join(", ", (metrics ?? []).Select(kv => $"{kv.Key} {Number(kv.Value)}"));

    /// <summary>
    /// A number with four decimals at most; one closer to 0 than 0.0001 (an output difference, a tight gate threshold) with four
    /// significant digits in E notation, so it never reads as 0 (or -0) when it is not.
    /// </summary>
    public static string Number(double value) =>
        value == 0 ? "0"
        : Math.Abs(value) < 0.0001 ? value.ToString("0.###E+0", CultureInfo.InvariantCulture)
        : value.ToString("0.####", CultureInfo.InvariantCulture);

    /// <summary>One event as a line, or null for one not worth a line (a progress event without a new stage).</summary>
    public static string? Line(JobEvent e, ref string? stage)
    {
        var when = e.At.ToUniversalTime().ToString("HH:mm:ss", CultureInfo.InvariantCulture);
        var data = e.Data;
        switch (e.Type)
        {
            case "progress":
                var newStage = Text(data, "stage");
                if (newStage is null || newStage == stage)
                {
                    return null;
                }

                stage = newStage;
                return $"{when} stage {newStage}{(data.TryGetProperty("percent", out var p) && p.ValueKind == JsonValueKind.Number ? $" ({p.GetDouble():0}%)" : "")}";
            // A fine-tuning checkpoint repeats the numbers of its epoch's metrics event, which has its line already.
            case "checkpoint" or "fine_tuning.checkpoint":
                return null;
            case "status":
                // "status running (worker w, attempt 1)", "status failed: code: message".
                var error = data.ValueKind == JsonValueKind.Object && data.TryGetProperty("error", out var er) &&
                    er.ValueKind == JsonValueKind.Object ? $": {Text(er, "code")}: {Text(er, "message")}"
                    : Text(data, "reason") is { } reason ? $": {reason}" : "";
                var worker = Text(data, "worker") is { } w ? $" (worker {w}, attempt {Scalar(data, "attempt")})" : "";
                return $"{when} status {Scalar(data, "status")}{worker}{error}";
            // A fine-tuning epoch's message (for OpenAI's clients) repeats its metrics event too.
            case "fine_tuning.message" when data.ValueKind == JsonValueKind.Object && data.TryGetProperty("epoch", out _):
                return null;
            case "log" or "fine_tuning.message":
                return $"{when} {Text(data, "message")}";
            case "epoch":
                return $"{when} epoch {Scalar(data, "epoch")}: {Flatten(data, skip: "epoch")}";
            case "iteration":
                return $"{when} iteration {Scalar(data, "iteration")}: {Flatten(data, skip: "iteration")}";
            case "fine_tuning.metrics":
                return $"{when} epoch {Scalar(data, "epoch")}: {Flatten(data, skip: "epoch")}";
            case "trial":
                var hyperparameters = data.TryGetProperty("hyperparameters", out var h) ? Flatten(h) : "";
                var metrics = data.TryGetProperty("metrics", out var m) && m.ValueKind == JsonValueKind.Object ? Flatten(m) : Text(data, "error") ?? "";
                return $"{when} trial {TrialNumber(data)} {Text(data, "status")}: {hyperparameters} -> {metrics}";
            case "metrics":
                var values = data.TryGetProperty("metrics", out var mm) && mm.ValueKind == JsonValueKind.Object ? Flatten(mm) : Flatten(data);
                return $"{when} metrics ({Text(data, "split") ?? Text(data, "status") ?? "latest"}): {values}";
            default:
                return $"{when} {e.Type}: {Flatten(data)}";
        }
    }

    /// <summary>A trial as people count it, "3 of 8", where the event's <c>trial</c> is the 0-based index of its job id (<c>-trial002</c>).</summary>
    public static string TrialNumber(JsonElement data)
    {
        if (data.ValueKind != JsonValueKind.Object || !data.TryGetProperty("trial", out var index) || index.ValueKind != JsonValueKind.Number || !index.TryGetInt32(out var i))
        {
            return Scalar(data, "trial");
        }

        return data.TryGetProperty("trials", out var total) && total.ValueKind == JsonValueKind.Number && total.TryGetInt32(out var n) ? $"{i + 1} of {n}" : $"{i + 1}";
    }

    private static string? Text(JsonElement data, string name) =>
        data.ValueKind == JsonValueKind.Object && data.TryGetProperty(name, out var value) ? value.ValueKind == JsonValueKind.String ? value.GetString()
        : value.ValueKind == JsonValueKind.Null ? null : value.GetRawText() : null;

    private static string Scalar(JsonElement data, string name) => Text(data, name) ?? "?";

    // The scalar fields of an object as "name value" pairs; nested objects and arrays are left out (they are in --json).
    private static string Flatten(JsonElement data, string? skip = null)
    {
        if (data.ValueKind != JsonValueKind.Object)
        {
            return data.ValueKind == JsonValueKind.Undefined ? "" : data.GetRawText();
        }

        var text = new StringBuilder();
        foreach (var property in data.EnumerateObject())
        {
            if (property.Name == skip || property.Value.ValueKind is JsonValueKind.Object or JsonValueKind.Array or JsonValueKind.Null)
            {
                continue;
            }

            if (text.Length > 0)
            {
                text.Append(", ");
            }

            text.Append(property.Name).Append(' ').Append(property.Value.ValueKind == JsonValueKind.Number ? Number(property.Value.GetDouble())
                : property.Value.ValueKind == JsonValueKind.String ? property.Value.GetString() : property.Value.GetRawText());
        }

        return text.ToString();
    }
}
