using System.Text.Json.Nodes;
using Maas.Cli.Hosting;
using Maas.Cli.Tests.Support;
using Maas.Client.Registry;
using Maas.Server.Tests.Support;

namespace Maas.Cli.Tests;

/// <summary><c>maas deployments</c> run as a process against a real server with generated ONNX models.</summary>
[Collection(CliServerCollection.Name)]
public sealed class DeploymentsCommandTests(CliServerFixture fixture) : IDisposable
{
    private readonly TempDirectory _files = new("maas-cli-deployments");

    public void Dispose() => _files.Dispose();

    // One version per seed; different seeds give different weights.
    private async Task<string> ModelAsync(params int[] seeds)
    {
        var name = Names.Unique("dep");
        await fixture.Client.CreateModelAsync(new NewModel(name));
        foreach (var seed in seeds)
        {
            using var onnx = new MemoryStream(TestArtifacts.Onnx(seed));
            await fixture.Client.UploadVersionAsync(name, onnx, "model.onnx");
        }

        return name;
    }

    private static int[] Split(JsonNode deployment, string property = "traffic") =>
        [.. deployment[property]!.AsArray().SelectMany(t => new[] { (int)t!["version"]!, (int)t["percent"]! })];

    [Fact]
    public async Task Deployments_create_a_90_10_split_then_list_show_pause_resume_promote_and_history_show_every_action()
    {
        var model = await ModelAsync(1, 2);

        // For people: a summary line and the split; for scripts: the server's deployment.
        var created = await fixture.RunAsync("deployments", "create", model, "--split", "1=90,2=10", "--sticky-header", "X-User");
        Assert.True(created.ExitCode == 0, created.ToString());
        Assert.Contains($"created deployment {model} of {model}: v1 90%, v2 10%", created.Stdout);
        Assert.Contains("header X-User", created.Stdout);

        // Nothing measured yet: no error rate, latency, exact-match rate or error is shown (it read "EXACT MATCH 1"
        // over 0 comparisons), only the counts.
        Assert.Matches(@"│ 1\s*│ 0\s*│ 0\s*│\s*│\s*│ 0\s*│\s*│\s*│ 0\s*│", created.Stdout);

        // A plain name now pulls the deployment's primary version (its stable one), and says so.
        var pulled = (await fixture.RunAsync("models", "pull", model, "-o", Path.Combine(_files.Path, "pulled"), "--json")).Json();
        Assert.Equal(1, (int?)pulled["version"]);
        Assert.Equal(model, (string?)pulled["deployment"]);
        var pulledText = await fixture.RunAsync("models", "pull", model, "-o", Path.Combine(_files.Path, "pulled-text"));
        Assert.True(pulledText.ExitCode == 0, pulledText.ToString());
        Assert.Contains($"version 1 is the primary version of deployment {model} (it routes to 1, 2)", pulledText.Stdout);
        var resolved = await fixture.Client.ResolveAsync(model);
        Assert.Equal(1, resolved.Version.Version);
        Assert.Equal([1, 2], resolved.Deployment!.Versions);
        Assert.Equal(1, resolved.Deployment.Stable);
        Assert.Null((await fixture.Client.ResolveAsync($"{model}/versions/2")).Deployment);

        var list = (await fixture.RunAsync("deployments", "list", "--json")).Json().AsArray();
        var listed = Assert.Single(list, d => (string?)d!["name"] == model)!;
        Assert.Equal([1, 90, 2, 10], Split(listed));
        Assert.Matches($@"{model}\s*│.*│\s*v1 90%, v2 10%\s*│", (await fixture.RunAsync("deployments", "list")).Stdout);

        var shown = (await fixture.RunAsync("deployments", "show", model, "--json")).Json();
        Assert.Equal(model, (string?)shown["model"]);
        Assert.Equal("active", (string?)shown["state"]);
        Assert.Equal(1, (int?)shown["stable"]);
        Assert.Equal("X-User", (string?)shown["sticky"]!["header"]);
        Assert.Equal([1, 2], shown["metrics"]!.AsArray().Select(m => (int)m!["version"]!));
        Assert.Equal(1, (long?)shown["revision"]);

        // Pause holds the split; resume is refused unless paused (409 → exit 5).
        var paused = (await fixture.RunAsync("deployments", "pause", model, "--json")).Json();
        Assert.Equal("paused", (string?)paused["state"]);
        Assert.Equal([1, 90, 2, 10], Split(paused));
        var resumed = await fixture.RunAsync("deployments", "resume", model);
        Assert.True(resumed.ExitCode == 0, resumed.ToString());
        Assert.Contains($"deployment {model} is active: v1 90%, v2 10% (stable 1)", resumed.Stdout);
        (await fixture.RunAsync("deployments", "resume", model)).AssertFailure(ExitCodes.Conflict, "invalid_deployment_state");

        // Promote sends all traffic to the canary, which becomes stable.
        var promoted = (await fixture.RunAsync("deployments", "promote", model, "--json")).Json();
        Assert.Equal("promoted", (string?)promoted["state"]);
        Assert.Equal(2, (int?)promoted["stable"]);
        Assert.Equal([2, 100], Split(promoted));

        var history = (await fixture.RunAsync("deployments", "history", model, "--json")).Json();
        Assert.Equal(model, (string?)history["name"]);
        Assert.Equal(["promote", "resume", "pause", "create"], history["history"]!.AsArray().Select(h => (string?)h!["action"]));
        Assert.Equal("promoted", (string?)history["history"]![0]!["state"]);
        Assert.Matches(@"│\s*pause\s*│\s*paused\s*│", (await fixture.RunAsync("deployments", "history", model)).Stdout);

        // Who acted, by the key's name for people (an admin reads every key's name); the JSON keeps the key's id.
        var me = await fixture.Client.MeAsync();
        var keyName = System.Text.RegularExpressions.Regex.Escape(me.KeyName!);
        Assert.Equal(me.KeyId, (string?)history["history"]![0]!["actor"]);
        Assert.Matches($@"│ {keyName}\s*│ promote\s*│", (await fixture.RunAsync("deployments", "history", model)).Stdout);
        Assert.Matches($@"created by\s+{keyName}\n", (await fixture.RunAsync("models", "show", model, "--version", "1")).Stdout.ReplaceLineEndings("\n"));
    }

    [Fact]
    public async Task Deployments_create_with_shadow_and_plan_then_abort_rm_and_unknown_names_exit_not_found()
    {
        var model = await ModelAsync(1, 2, 3);
        var plan = Path.Combine(_files.Path, "plan.json");
        await File.WriteAllTextAsync(plan, """{"steps": [10, 100], "dwell_seconds": 3600}""");

        var created = (await fixture.RunAsync("deployments", "create", model, "--split", "1=90,2=10", "--shadow", "3", "--plan", plan, "--name", model + "-d", "--json")).Json();
        Assert.Equal(model + "-d", (string?)created["name"]);
        Assert.Equal(3, (int?)created["shadow"]![0]!["version"]);
        Assert.Equal(2, (int?)created["canary"]);
        Assert.Equal(0, (int?)created["step"]);
        Assert.Equal(3600, (double?)created["plan"]!["dwell_seconds"]);

        // The JSON counts the step from 0 (an index into plan.steps); what the CLI shows counts from 1, as the history does.
        var shown = await fixture.RunAsync("deployments", "show", model + "-d");
        Assert.Matches(@"step\s+1 of 2 \(10%\)", shown.Stdout);

        var aborted = (await fixture.RunAsync("deployments", "abort", model + "-d", "--json")).Json();
        Assert.Equal("aborted", (string?)aborted["state"]);
        Assert.Equal([1, 100], Split(aborted));
        (await fixture.RunAsync("deployments", "promote", model + "-d")).AssertFailure(ExitCodes.Conflict, "invalid_deployment_state");

        Assert.Equal(model + "-d", (string?)(await fixture.RunAsync("deployments", "rm", model + "-d", "--json")).Json()["deleted"]);
        (await fixture.RunAsync("deployments", "show", model + "-d")).AssertFailure(ExitCodes.NotFound, "deployment_not_found");
        (await fixture.RunAsync("deployments", "pause", "no-such-deployment")).AssertFailure(ExitCodes.NotFound, "deployment_not_found");
        (await fixture.RunAsync("deployments", "history", "no-such-deployment")).AssertFailure(ExitCodes.NotFound, "deployment_not_found");

        // The server's checks come back in one line; a malformed split never reaches it.
        (await fixture.RunAsync("deployments", "create", model, "--split", "1=90,2=20")).AssertFailure(ExitCodes.Failure, "invalid_traffic");
        (await fixture.RunAsync("deployments", "create", model, "--split", "1:90")).AssertFailure(ExitCodes.Usage, "invalid_split");
        (await fixture.RunAsync("deployments", "create", "no-such-model", "--split", "1=100")).AssertFailure(ExitCodes.NotFound, "model_not_found");
    }

    [Fact]
    public async Task Deployments_update_changes_the_split_compare_and_set_and_a_stale_revision_exits_5_leaving_it_unchanged()
    {
        var model = await ModelAsync(1, 2, 3);
        Assert.Equal(0, (await fixture.RunAsync("deployments", "create", model, "--split", "1=90,2=10")).ExitCode);

        // Without --if-revision the revision just read is the precondition; each change raises it.
        var updated = await fixture.RunAsync("deployments", "update", model, "--split", "1=50,2=50");
        Assert.True(updated.ExitCode == 0, updated.ToString());
        Assert.Contains($"deployment {model} is active: v1 50%, v2 50% (stable 1)", updated.Stdout);
        var shown = (await fixture.RunAsync("deployments", "show", model, "--json")).Json();
        Assert.Equal(2, (long?)shown["revision"]);

        var json = (await fixture.RunAsync("deployments", "update", model, "--split", "1=80,2=20", "--shadow", "3", "--if-revision", "2", "--json")).Json();
        Assert.Equal([1, 80, 2, 20], Split(json));
        Assert.Equal(3, (int?)json["shadow"]![0]!["version"]);
        Assert.Equal(3, (long?)json["revision"]);

        // A revision someone else already moved past: refused in one clear line, exit 5, nothing changed.
        var stale = await fixture.RunAsync("deployments", "update", model, "--split", "2=100", "--if-revision", "2");
        stale.AssertFailure(ExitCodes.Conflict, "deployment_changed");
        Assert.Contains("is at revision 3, not 2", stale.Stderr);
        var after = (await fixture.RunAsync("deployments", "show", model, "--json")).Json();
        Assert.Equal([1, 80, 2, 20], Split(after));
        Assert.Equal(3, (long?)after["revision"]);

        // Shadows can be cleared; an update with nothing to change never reaches the server.
        Assert.Empty((await fixture.RunAsync("deployments", "update", model, "--shadow", "none", "--json")).Json()["shadow"]!.AsArray());
        (await fixture.RunAsync("deployments", "update", model)).AssertFailure(ExitCodes.Usage, "nothing_to_update");
        (await fixture.RunAsync("deployments", "update", "no-such-deployment", "--split", "1=100")).AssertFailure(ExitCodes.NotFound, "deployment_not_found");
    }
}
