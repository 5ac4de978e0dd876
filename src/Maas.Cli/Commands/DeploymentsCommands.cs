using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Maas.Cli.Hosting;
using Maas.Client;
using Maas.Client.Deployments;
using Spectre.Console;

namespace Maas.Cli.Commands;

/// <summary><c>maas deployments list|show|create|update|promote|pause|resume|abort|history|rm</c>: a model's live traffic split over its versions.</summary>
public static class DeploymentsCommands
{
    /// <summary>The <c>deployments</c> command with its subcommands.</summary>
    public static Command Create()
    {
        var deployments = new Command("deployments", "Split a model's live traffic over its versions: list, show, create, update, promote, pause, resume, abort, history, rm");
        deployments.Subcommands.Add(List());
        deployments.Subcommands.Add(Show());
        deployments.Subcommands.Add(CreateCommand());
        deployments.Subcommands.Add(Update());
        deployments.Subcommands.Add(Promote());
        deployments.Subcommands.Add(Act("pause", "Hold the rollout (the split stays)", (c, n, ct) => c.PauseDeploymentAsync(n, ct)));
        deployments.Subcommands.Add(Act("resume", "Continue a paused rollout (its step's dwell and metrics start afresh)", (c, n, ct) => c.ResumeDeploymentAsync(n, ct)));
        deployments.Subcommands.Add(Act("abort", "Send all traffic back to the stable version", (c, n, ct) => c.AbortDeploymentAsync(n, ct)));
        deployments.Subcommands.Add(History());
        deployments.Subcommands.Add(Remove());
        return deployments;
    }

    private static Command List()
    {
        var command = new Command("list", "The deployments this key may see (JSON: an array of deployments, each with its name)");
        command.Aliases.Add("ls");
        command.SetAction(async (parse, client, ct) =>
        {
            var list = await client.ListDeploymentsAsync(ct);
            return CliHost.Print(parse, list.Deployments, items =>
            {
                var table = CliHost.Table("NAME", "TENANT", "MODEL", "TRAFFIC", "SHADOW", "STATE", "STABLE", "CANARY", "UPDATED");
                foreach (var d in items)
                {
                    table.Row(d.Name, d.Tenant, d.Model, Split(d.Traffic), Shadows(d), d.State, d.Stable, d.Canary, d.UpdatedAt);
                }

                AnsiConsole.Write(table);
            });
        });
        return command;
    }

    private static Command Show()
    {
        var name = new Argument<string>("deployment") { Description = "Deployment name (an admin names another tenant's as tenant/name)" };
        var command = new Command("show", "A deployment with its split, state and this server's metrics per version") { name };
        command.SetAction(async (parse, client, ct) =>
            CliHost.Print(parse, await client.GetDeploymentAsync(parse.GetValue(name)!, ct), Describe));
        return command;
    }

    private static Command CreateCommand()
    {
        var model = new Argument<string>("model") { Description = "The model to deploy ('name' or 'tenant/name', without version or alias)" };
        var split = new Option<string>("--split") { Description = "VERSION=PERCENT,... summing to 100, e.g. 1=90,2=10", Required = true };
        var name = new Option<string?>("--name") { Description = "Deployment name (default: the model's)" };
        var shadow = new Option<string?>("--shadow") { Description = "VERSION,...: versions that get a copy of live requests" };
        var stickyHeader = new Option<string?>("--sticky-header") { Description = "A request header whose value keeps one client on one version, e.g. X-User-Id" };
        var stickyKey = new Option<bool>("--sticky-key") { Description = "Keep each API key on one version" };
        var plan = new Option<FileInfo?>("--plan") { Description = "A JSON file with a rollout plan (fields in docs/api.md)" };
        var command = new Command("create", "Deploy a model with a traffic split, shadows, stickiness and an optional rollout plan") { model, split, name, shadow, stickyHeader,
            stickyKey, plan };
        command.SetAction(async (parse, client, ct) =>
        {
            var header = parse.GetValue(stickyHeader);
            var key = parse.GetValue(stickyKey);
            var request = new NewDeployment(parse.GetValue(model)!, ParseSplit(parse.GetValue(split)!))
            {
                Name = parse.GetValue(name),
                Shadow = parse.GetValue(shadow) is { } s ? [.. Versions(s, "--shadow").Select(v => new ShadowTargetInfo(v))] : null,
                Sticky = header is not null || key ? new StickyRoutingInfo { Header = header, Key = key ? true : null } : null,
                Plan = parse.GetValue(plan) is { } file ? ReadPlan(file) : null,
            };
            var created = await client.CreateDeploymentAsync(request, ct);
            return CliHost.Print(parse, created, d =>
            {
                Console.Out.WriteLine($"created deployment {d.Name} of {d.Model}: {Split(d.Traffic)}");
                Describe(d);
            });
        });
        return command;
    }

    private static Command Update()
    {
        var name = new Argument<string>("deployment") { Description = "Deployment name" };
        var split = new Option<string?>("--split") { Description = "The new split, VERSION=PERCENT,... summing to 100 (without --plan it ends a running rollout)" };
        var shadow = new Option<string?>("--shadow") { Description = "The new shadow versions, VERSION,... ('none' for none)" };
        var plan = new Option<FileInfo?>("--plan") { Description = "A JSON file with a new rollout plan (fields in docs/api.md)" };
        var revision = new Option<long?>("--if-revision")
        {
            Description = "Change it only if it is still at this revision (as 'show' printed it); default: the revision " +
            "read just before the change"
        }.Between(1, long.MaxValue);
        var command = new Command("update", "Change a deployment's split, shadows or plan, compare-and-set on its revision (If-Match); a deployment changed meanwhile exits 5 " +
            "(deployment_changed) and stays as it was") { name, split, shadow, plan, revision };
        command.SetAction(async (parse, client, ct) =>
        {
            var deployment = parse.GetValue(name)!;
            var update = new DeploymentUpdate
            {
                Traffic = parse.GetValue(split) is { } sp ? ParseSplit(sp) : null,
                Shadow = parse.GetValue(shadow) is { } sh ? (sh == "none" ? [] : [.. Versions(sh, "--shadow").Select(v => new ShadowTargetInfo(v))]) : null,
                Plan = parse.GetValue(plan) is { } file ? ReadPlan(file) : null,
            };
            if (update is { Traffic: null, Shadow: null, Plan: null })
            {
                throw new CliException("nothing_to_update", "give --split, --shadow or --plan", ExitCodes.Usage);
            }

            // Without --if-revision, the revision read now: a change the analysis loop or another user makes between
            // this read and the write is not overwritten.
            var expected = parse.GetValue(revision) ?? (await client.GetDeploymentAsync(deployment, ct)).Revision;
            DeploymentInfo updated;
            try
            {
                updated = await client.UpdateDeploymentAsync(deployment, update, expected, ct);
            }
            catch (MaasApiException e) when (e.Code == "deployment_changed")
            {
                var now = e.Body is { } body && body.TryGetProperty("error", out var error) && error.TryGetProperty("revision", out var r) ? r.ToString() : "another";
                throw new CliException(
                    "deployment_changed",
                    $"deployment {deployment} is at revision {now}, not {expected}: someone changed it meanwhile and nothing was updated; check it with 'maas deployments show " +
                    $"{deployment}' and retry",
                    ExitCodes.Conflict);
            }

            return CliHost.Print(parse, updated, Changed);
        });
        return command;
    }

    private static Command Promote()
    {
        var name = new Argument<string>("deployment") { Description = "Deployment name" };
        var version = new Option<int?>("--version")
        {
            Description = "The version to promote (default: the canary, else the version with the larger share " +
            "besides the stable one)"
        }.VersionNumber();
        var command = new Command("promote", "Send all traffic to the canary (or --version), which becomes the stable version") { name, version };
        command.SetAction(async (parse, client, ct) =>
            CliHost.Print(parse, await client.PromoteDeploymentAsync(parse.GetValue(name)!, parse.GetValue(version), ct), Changed));
        return command;
    }

    private static Command Act(string action, string description, Func<MaasClient, string, CancellationToken, Task<DeploymentInfo>> call)
    {
        var name = new Argument<string>("deployment") { Description = "Deployment name" };
        var command = new Command(action, description + " (409 invalid_deployment_state when it cannot now)") { name };
        command.SetAction(async (parse, client, ct) => CliHost.Print(parse, await call(client, parse.GetValue(name)!, ct), Changed));
        return command;
    }

    private static Command History()
    {
        var name = new Argument<string>("deployment") { Description = "Deployment name" };
        var limit = new Option<int?>("--limit", "-n") { Description = "Changes to show (default 100, at most 1000)" }.Between(1, 1000);
        var command = new Command("history", "Every change of a deployment, newest first (JSON: {name, history})") { name, limit };
        command.SetAction(async (parse, client, ct) =>
        {
            var history = await client.GetDeploymentHistoryAsync(parse.GetValue(name)!, parse.GetValue(limit), ct);
            var keys = parse.WantsJson() ? KeyNames.None : await KeyNames.ReadAsync(client, ct);
            return CliHost.Print(parse, history, h =>
            {
                var table = CliHost.Table("AT", "ACTOR", "ACTION", "STATE", "TRAFFIC", "REVISION", "REASON");
                foreach (var e in h.History)
                {
                    table.Row(e.At, keys.Of(e.Actor), e.Action, e.State, Split(e.Traffic), e.Revision, e.Reason);
                }

                AnsiConsole.Write(table);
            });
        });
        return command;
    }

    private static Command Remove()
    {
        var name = new Argument<string>("deployment") { Description = "Deployment name" };
        var command = new Command("rm", "Delete a deployment: calls take the registry's default version again") { name };
        command.SetAction(async (parse, client, ct) =>
        {
            var deployment = parse.GetValue(name)!;
            await client.DeleteDeploymentAsync(deployment, ct);
            return CliHost.Print(parse, new { deleted = deployment }, _ => Console.Out.WriteLine($"deleted deployment {deployment}"));
        });
        return command;
    }

    private static void Changed(DeploymentInfo d) =>
        Console.Out.WriteLine($"deployment {d.Name} is {d.State}: {Split(d.Traffic)} (stable {d.Stable}{(d.Reason is { } r ? "; " + r : "")})");

    // The JSON's step is the 0-based index into plan.steps; people (and the history) count from 1: "step 1 of 2 (10%)".
    private static string? StepOf(DeploymentInfo d)
    {
        if (d.Step is not { } step)
        {
            return null;
        }

        var steps = d.Plan is { ValueKind: JsonValueKind.Object } plan && plan.TryGetProperty("steps", out var s) && s.ValueKind == JsonValueKind.Array ? s : (JsonElement?)null;
        if (steps is not { } all)
        {
            return (step + 1).ToString(CultureInfo.InvariantCulture);
        }

        var percent = step < all.GetArrayLength() && all[step].ValueKind == JsonValueKind.Number ? $" ({all[step].GetRawText()}%)" : "";
        return $"{step + 1} of {all.GetArrayLength()}{percent}";
    }

    private static void Describe(DeploymentInfo d)
    {
        var fields = new FieldList();
        fields.Add("name", d.Name);
        fields.Add("tenant", d.Tenant);
        fields.Add("model", d.Model);
        fields.Add("traffic", Split(d.Traffic));
        fields.Add("shadow", Shadows(d));
        fields.Add("sticky", d.Sticky switch { { Header: { } h } => "header " + h, { Key: true } => "API key", _ => null });
        fields.Add("state", d.State);
        fields.Add("stable", d.Stable);
        fields.Add("canary", d.Canary);
        fields.Add("step", StepOf(d));
        fields.Add("reason", d.Reason);
        fields.Add("revision", d.Revision);
        fields.Add("created", d.CreatedAt);
        fields.Add("updated", d.UpdatedAt);
        fields.Write();
        if (d.Metrics is { Count: > 0 } metrics)
        {
            var table = CliHost.Table("VERSION", "REQUESTS", "ERRORS", "ERROR RATE", "P99 MS", "COMPARISONS", "EXACT MATCH", "MAX ABS ERR", "DROPPED");
            foreach (var m in metrics)
            {
                // Rates and latencies of nothing measured are left empty: "EXACT MATCH 1" read as every answer matching.
                table.Row(
                    m.Version,
                    m.Requests,
                    m.Errors,
                    m.Requests > 0 ? m.ErrorRate : null,
                    m.Requests > 0 ? m.P99Ms : null,
                    m.Comparisons,
                    m.Comparisons > 0 ? m.ExactMatchRate : null,
                    m.Comparisons > 0 ? m.MaxAbsError : null,
                    m.Dropped);
            }

            AnsiConsole.Write(table);
        }
    }

    private static string Split(IReadOnlyList<TrafficShareInfo> traffic) =>
        string.Join(", ", traffic.Select(t => $"v{t.Version} {t.Percent}%"));

    private static string? Shadows(DeploymentInfo d) =>
        d.Shadow is { Count: > 0 } shadow ? string.Join(", ", shadow.Select(s => "v" + s.Version.ToString(CultureInfo.InvariantCulture))) : null;

    // "1=90,2=10": the server checks the sum and the versions; here only the form.
    private static IReadOnlyList<TrafficShareInfo> ParseSplit(string text)
    {
        var shares = new List<TrafficShareInfo>();
        foreach (var part in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var pair = part.Split('=', 2, StringSplitOptions.TrimEntries);
            if (pair.Length != 2 || !int.TryParse(pair[0], NumberStyles.None, CultureInfo.InvariantCulture, out var version)
                || !int.TryParse(pair[1], NumberStyles.None, CultureInfo.InvariantCulture, out var percent))
            {
                throw new CliException("invalid_split", $"--split takes VERSION=PERCENT,... (e.g. 1=90,2=10), not '{text}'", ExitCodes.Usage);
            }

            shares.Add(new TrafficShareInfo(version, percent));
        }

        return shares.Count > 0 ? shares : throw new CliException("invalid_split", "--split needs at least one VERSION=PERCENT", ExitCodes.Usage);
    }

    private static IEnumerable<int> Versions(string text, string option) =>
        text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(v =>
            int.TryParse(v, NumberStyles.None, CultureInfo.InvariantCulture, out var n)
                ? n
                : throw new CliException("invalid_version", $"{option} takes version numbers (e.g. 3 or 3,4), not '{text}'", ExitCodes.Usage)).ToArray();

    private static JsonElement ReadPlan(FileInfo file)
    {
        if (!file.Exists)
        {
            throw new CliException("file_not_found", $"no file {file.FullName}");
        }

        try
        {
            using var document = JsonDocument.Parse(File.ReadAllText(file.FullName));
            return document.RootElement.Clone();
        }
        catch (JsonException e)
        {
            throw new CliException("invalid_json", $"--plan: {file.FullName} is not valid JSON: {e.Message}", ExitCodes.Usage);
        }
    }
}
