using System.Net;
using System.Text.Json.Nodes;
using Maas.Core.Hosting;
using Maas.Core.Tenancy;
using Maas.Server.Tests.ModelHosting;
using Maas.Server.Tests.Support;
using Microsoft.Extensions.DependencyInjection;
using static Maas.Testing.Conditions;

namespace Maas.Server.Tests.Deployments;

/// <summary>Servers whose analysis loop and change polling run fast, so rollouts are judged within a test's seconds.</summary>
public sealed class DeploymentServers : ServerPerDb
{
    /// <summary>The settings of every deployment test server.</summary>
    public static Dictionary<string, string?> Fast { get; } = new()
    {
        ["Maas:Deployments:AnalysisIntervalMs"] = "100",
        ["Maas:Deployments:RefreshMs"] = "100",
        ["Maas:Usage:FlushMs"] = "20",
    };

    /// <inheritdoc />
    protected override IReadOnlyDictionary<string, string?> Settings => Fast;
}

/// <summary>Deployments over HTTP on a real server with generated ONNX models: splits, stickiness, shadows, rollouts, hot swap.</summary>
public sealed class DeploymentTests(DeploymentServers servers) : IClassFixture<DeploymentServers>
{
    // Seeds 1 and 2 give different weights (different outputs); seed 1 twice gives identical models.
    private static async Task<string> ModelAsync(HttpClient client, params int[] seeds)
    {
        var name = await client.CreateModelAsync();
        foreach (var seed in seeds)
        {
            await client.UploadAsync(name, TestArtifacts.Onnx(seed), "model.onnx");
        }

        return name;
    }

    private static async Task<JsonNode> CreateAsync(HttpClient client, string body, HttpStatusCode expected = HttpStatusCode.Created)
    {
        using var response = await client.PostAsync("api/v1/deployments", Api.Json(body));
        return await response.JsonAsync(expected);
    }

    private static async Task<JsonNode> GetAsync(HttpClient client, string name)
    {
        using var response = await client.GetAsync($"api/v1/deployments/{name}");
        return await response.JsonAsync(HttpStatusCode.OK);
    }

    private sealed record Answer(int Status, string? Header, string? BodyVersion, float[] Outputs);

    private static async Task<Answer> InferAsync(HttpClient client, string model, int? version = null, string? user = null)
    {
        var path = version is null ? $"v2/models/{model}/infer" : $"v2/models/{model}/versions/{version}/infer";
        using var request = new HttpRequestMessage(HttpMethod.Post, path)
        {
            Content = Api.Json("""{"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": [0.5, -1.25, 2.0, 0.75]}]}"""),
        };
        if (user is not null)
        {
            request.Headers.Add("X-User", user);
        }

        using var response = await client.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        var header = response.Headers.TryGetValues("X-Maas-Model-Version", out var values) ? values.Single() : null;
        if (response.StatusCode != HttpStatusCode.OK)
        {
            return new Answer((int)response.StatusCode, header, null, []);
        }

        var body = JsonNode.Parse(text)!;
        var outputs = body["outputs"]![0]!["data"]!.AsArray().Select(v => (float)v!).ToArray();
        return new Answer(200, header, (string?)body["model_version"], outputs);
    }

    [Theory]
    [OnSqlite]
    [OnPostgres]
    public async Task Bad_splits_unknown_versions_and_wrong_states_get_api_errors_and_every_action_is_in_history_and_audit(Db db)
    {
        var client = (await servers.GetAsync(db)).Client;
        var model = await ModelAsync(client, 1, 2);

        using (var r = await client.PostAsync("api/v1/deployments",
            Api.Json($$"""{"model": "{{model}}", "traffic": [{"version": 1, "percent": 90}, {"version": 2, "percent": 20}]}""")))
        {
            Assert.Contains("sum to 100, not 110", (string?)(await r.ErrorAsync(HttpStatusCode.BadRequest, "invalid_traffic"))["message"]);
        }

        await (await client.PostAsync("api/v1/deployments", Api.Json($$"""{"model": "{{model}}", "traffic": [{"version": 1, "percent": 50}, {"version": 1, "percent": 50}]}""")))
            .ErrorAsync(HttpStatusCode.BadRequest, "invalid_traffic");
        await (await client.PostAsync("api/v1/deployments", Api.Json($$"""{"model": "{{model}}", "traffic": [{"version": 9, "percent": 100}]}""")))
            .ErrorAsync(HttpStatusCode.NotFound, "version_not_found");
        await (await client.PostAsync("api/v1/deployments", Api.Json($$"""{"model": "{{model}}", "traffic": [{"version": 1, "percent": 100}], "shadow": [{"version": 1}]}""")))
            .ErrorAsync(HttpStatusCode.BadRequest, "invalid_shadow");
        await (await client.PostAsync("api/v1/deployments",
            Api.Json($$"""{"model": "{{model}}", "traffic": [{"version": 1, "percent": 90}, {"version": 2, "percent": 10}], "plan": {"steps": [10, 50]} }""")))
            .ErrorAsync(HttpStatusCode.BadRequest, "invalid_plan");

        // A number past a double's range (read as infinity) was "must be a number of 0 or more"; it is out of range, and the range is given.
        foreach (var (value, says) in new[] { ("1e400", "out of range"), ("-1e400", "below that"), ("-2", "not -2") })
        {
            using var r = await client.PostAsync("api/v1/deployments", Api.Json(
                $$"""{"model": "{{model}}", "traffic": [{"version": 1, "percent": 90}, {"version": 2, "percent": 10}], "plan": {"steps": [10, 100], "max_p99_ms": {{value}}} }"""));
            var message = (string?)(await r.ErrorAsync(HttpStatusCode.BadRequest, "invalid_plan"))["message"];
            Assert.Contains("plan.max_p99_ms", message);
            Assert.Contains("0 to 1.7976931348623157E+308", message);
            Assert.Contains(says, message);
        }

        await (await client.PostAsync("api/v1/deployments", Api.Json("""{"model": "no-such-model", "traffic": [{"version": 1, "percent": 100}]}""")))
            .ErrorAsync(HttpStatusCode.NotFound, "model_not_found");
        await (await client.PostAsync("api/v1/deployments", Api.Json($$"""{"model": "{{model}}", "traffic": [{"version": 1, "percent": 100}], "colour": "red"}""")))
            .ErrorAsync(HttpStatusCode.BadRequest, "invalid_json");

        // Created under the model's name, with a Location and an ETag.
        JsonNode created;
        using (var r = await client.PostAsync("api/v1/deployments",
            Api.Json($$"""{"model": "{{model}}", "traffic": [{"version": 1, "percent": 90}, {"version": 2, "percent": 10}]}""")))
        {
            created = await r.JsonAsync(HttpStatusCode.Created);
            Assert.Equal($"/api/v1/deployments/{model}", r.Headers.Location?.ToString());
            Assert.Equal("\"1\"", r.Headers.ETag?.ToString());
        }

        Assert.Equal(model, (string?)created["name"]);
        Assert.Equal("active", (string?)created["state"]);
        Assert.Equal(1, (int)created["stable"]!);
        await (await client.PostAsync("api/v1/deployments", Api.Json($$"""{"model": "{{model}}", "traffic": [{"version": 1, "percent": 100}]}""")))
            .ErrorAsync(HttpStatusCode.Conflict, "deployment_exists");
        Assert.Contains((await (await client.GetAsync("api/v1/deployments")).JsonAsync(HttpStatusCode.OK))["deployments"]!.AsArray(), d => (string?)d!["name"] == model);
        await (await client.GetAsync("api/v1/deployments/no-such-deployment")).ErrorAsync(HttpStatusCode.NotFound, "deployment_not_found");

        // The other codes docs/api.md lists: a history limit out of range, an If-Match that is no ETag, a change of nothing.
        await (await client.GetAsync($"api/v1/deployments/{model}/history?limit=0")).ErrorAsync(HttpStatusCode.BadRequest, "invalid_query");
        using (var noEtag = new HttpRequestMessage(HttpMethod.Patch, $"api/v1/deployments/{model}") { Content = Api.Json("""{"shadow": []}""") })
        {
            noEtag.Headers.TryAddWithoutValidation("If-Match", "seven");
            await (await client.SendAsync(noEtag)).ErrorAsync(HttpStatusCode.BadRequest, "invalid_precondition");
        }

        await (await client.PatchAsync($"api/v1/deployments/{model}", Api.Json("{}"))).ErrorAsync(HttpStatusCode.BadRequest, "invalid_json");

        // A version below 1 is no version number (it was 404 "model has no version 0", as for a number that is free).
        foreach (var bad in new[] { "0", "-1" })
        {
            await (await client.PostAsync($"api/v1/deployments/{model}:promote", Api.Json("{\"version\": " + bad + "}"))).ErrorAsync(HttpStatusCode.BadRequest, "invalid_version");
        }

        // States: resume needs a pause; a stale If-Match is refused; abort sends all traffic to the stable version.
        await (await client.PostAsync($"api/v1/deployments/{model}:resume", null)).ErrorAsync(HttpStatusCode.Conflict, "invalid_deployment_state");
        using (var stale = new HttpRequestMessage(HttpMethod.Patch, $"api/v1/deployments/{model}") { Content = Api.Json("""{"traffic": [{"version": 2, "percent": 100}]}""") })
        {
            stale.Headers.TryAddWithoutValidation("If-Match", "\"7\"");
            await (await client.SendAsync(stale)).ErrorAsync(HttpStatusCode.Conflict, "deployment_changed");
        }

        Assert.Equal("paused", (string?)(await (await client.PostAsync($"api/v1/deployments/{model}:pause", null)).JsonAsync(HttpStatusCode.OK))["state"]);
        Assert.Equal("active", (string?)(await (await client.PostAsync($"api/v1/deployments/{model}:resume", null)).JsonAsync(HttpStatusCode.OK))["state"]);
        var updated = await (await client.PatchAsync($"api/v1/deployments/{model}",
            Api.Json("""{"traffic": [{"version": 1, "percent": 50}, {"version": 2, "percent": 50}]}"""))).JsonAsync(HttpStatusCode.OK);
        Assert.Equal(50, (int)updated["traffic"]![1]!["percent"]!);
        var aborted = await (await client.PostAsync($"api/v1/deployments/{model}:abort", null)).JsonAsync(HttpStatusCode.OK);
        Assert.Equal("aborted", (string?)aborted["state"]);
        Assert.Equal("""[{"version":1,"percent":100}]""", aborted["traffic"]!.ToJsonString());
        await (await client.PostAsync($"api/v1/deployments/{model}:abort", null)).ErrorAsync(HttpStatusCode.Conflict, "invalid_deployment_state");

        var history = (await (await client.GetAsync($"api/v1/deployments/{model}/history")).JsonAsync(HttpStatusCode.OK))["history"]!.AsArray();
        Assert.Equal(["abort", "update", "resume", "pause", "create"], history.Select(h => (string?)h!["action"]));
        Assert.Equal([5L, 4, 3, 2, 1], history.Select(h => (long)h!["revision"]!));
        Assert.Single(history.Select(h => (string?)h!["actor"]).Distinct());
        Assert.NotEqual("system", (string?)history[0]!["actor"]);

        // Every change is in the audit log under its action.
        await WaitUntilAsync(
            async () =>
            {
                var entries = (await (await client.GetAsync("api/v1/audit?action=deployments.&limit=500")).JsonAsync(HttpStatusCode.OK))["entries"]!.AsArray();
                var mine = entries.Where(e => ((string?)e!["target"])?.EndsWith("/" + model, StringComparison.Ordinal) == true).Select(e => (string?)e!["action"]).ToArray();
                return new[] { "deployments.create", "deployments.pause", "deployments.resume", "deployments.update", "deployments.abort" }.All(mine.Contains);
            },
            "the audit log shows every deployment action");

        Assert.Equal(HttpStatusCode.NoContent, (await client.DeleteAsync($"api/v1/deployments/{model}")).StatusCode);
        await (await client.GetAsync($"api/v1/deployments/{model}")).ErrorAsync(HttpStatusCode.NotFound, "deployment_not_found");
    }

    [Fact]
    public async Task A_version_a_deployment_routes_to_or_shadows_is_not_deleted_without_force()
    {
        var client = (await servers.GetAsync(Db.Sqlite)).Client;
        var model = await ModelAsync(client, 1, 2, 1);
        await CreateAsync(client, $$"""{"model": "{{model}}", "traffic": [{"version": 1, "percent": 0}, {"version": 2, "percent": 100}], "shadow": [{"version": 3}]}""");

        // Deleting version 2 used to succeed, and every call the deployment then routed answered 404.
        var taken = await (await client.DeleteAsync($"api/v1/models/{model}/versions/2")).ErrorAsync(HttpStatusCode.Conflict, "version_in_use");
        Assert.Contains($"deployment '{model}' gives it 100% of the traffic", (string?)taken["message"], StringComparison.Ordinal);
        var shadowed = await (await client.DeleteAsync($"api/v1/models/{model}/versions/3")).ErrorAsync(HttpStatusCode.Conflict, "version_in_use");
        Assert.Contains("shadow", (string?)shadowed["message"], StringComparison.Ordinal);
        await (await client.DeleteAsync($"api/v1/models/{model}")).ErrorAsync(HttpStatusCode.Conflict, "model_in_use");
        Assert.Equal(200, (await InferAsync(client, model)).Status);

        // force is still the way to do it; a version the deployment no longer names is free.
        await (await client.PatchAsync($"api/v1/deployments/{model}", Api.Json("""{"shadow": []}"""))).JsonAsync(HttpStatusCode.OK);
        Assert.Equal(HttpStatusCode.NoContent, (await client.DeleteAsync($"api/v1/models/{model}/versions/3")).StatusCode);
        Assert.Equal(HttpStatusCode.NoContent, (await client.DeleteAsync($"api/v1/models/{model}/versions/2?force=true")).StatusCode);
    }

    [Fact]
    public async Task A_model_deleted_with_force_takes_its_deployment_along_and_a_new_model_of_that_name_starts_clean()
    {
        var client = (await servers.GetAsync(Db.Sqlite)).Client;
        var model = await ModelAsync(client, 1, 2);
        await CreateAsync(client, $$"""{"model": "{{model}}", "traffic": [{"version": 1, "percent": 100}]}""");
        Assert.Equal(HttpStatusCode.NoContent, (await client.DeleteAsync($"api/v1/models/{model}?force=true")).StatusCode);

        // The deployment used to outlive its model: hidden from the API while the model was gone, then routing a new
        // model of the same name to the old split (version 1 here, not the latest) and refusing a new deployment.
        await client.CreateModelAsync(model);
        await client.UploadAsync(model, TestArtifacts.Onnx(1), "model.onnx");
        await client.UploadAsync(model, TestArtifacts.Onnx(2), "model.onnx");
        await (await client.GetAsync($"api/v1/deployments/{model}")).ErrorAsync(HttpStatusCode.NotFound, "deployment_not_found");
        var answer = await InferAsync(client, model);
        Assert.Equal((200, "2"), (answer.Status, answer.Header));
        await CreateAsync(client, $$"""{"model": "{{model}}", "traffic": [{"version": 2, "percent": 100}]}""");
        var history = (await (await client.GetAsync($"api/v1/deployments/{model}/history")).JsonAsync(HttpStatusCode.OK))["history"]!.AsArray();
        Assert.Equal(["create"], history.Select(h => (string?)h!["action"]));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_canary_deleted_with_force_is_rolled_back_at_once_and_no_call_fails(bool paused)
    {
        // The rollout would go on for an hour (or is paused): neither the analysis loop nor an error rate decides here.
        var (client, model) = await CanaryDeletedWithForceAsync("""{"steps": [50, 100], "dwell_seconds": 3600, "min_requests": 3, "max_error_rate": 0.05}""", paused);

        // Half the calls used to fail (404) until the analysis loop counted enough of them to roll back; before that,
        // a rollout without an error-rate threshold could promote the deleted version.
        var deployment = await GetAsync(client, model);
        Assert.Equal("rolled-back", (string?)deployment["state"]);
        Assert.Contains("version 2, the canary, was deleted with force at step 1 of its rollout; all traffic back to version 1", (string?)deployment["reason"]);
        Assert.Equal("""[{"version":1,"percent":100}]""", deployment["traffic"]!.ToJsonString());
        var answers = await Task.WhenAll(Enumerable.Range(0, 20).Select(_ => InferAsync(client, model)));
        Assert.All(answers, a => Assert.Equal((200, "1"), (a.Status, a.Header)));

        var history = (await (await client.GetAsync($"api/v1/deployments/{model}/history")).JsonAsync(HttpStatusCode.OK))["history"]!.AsArray();
        var last = history[0]!; // newest first
        Assert.Equal(("rollback", "system"), ((string?)last["action"], (string?)last["actor"]));
    }

    [Fact]
    public async Task A_stable_version_deleted_with_force_moves_a_running_rollout_onto_its_canary()
    {
        var client = (await servers.GetAsync(Db.Sqlite)).Client;
        var model = await ModelAsync(client, 1, 1);
        await CreateAsync(client, $$"""{"model": "{{model}}", "traffic": [{"version": 1, "percent": 50}, {"version": 2, "percent": 50}], "plan": {"steps": [50, 100],""" +
            $$""" "dwell_seconds": 3600, "min_requests": 3} }""");
        await (await client.DeleteAsync($"api/v1/models/{model}/versions/1")).ErrorAsync(HttpStatusCode.Conflict, "version_in_use");
        Assert.Equal(HttpStatusCode.NoContent, (await client.DeleteAsync($"api/v1/models/{model}/versions/1?force=true")).StatusCode);

        // The deployment went on sending half the calls to version 1, each a 404, with nothing to end it.
        var deployment = await GetAsync(client, model);
        Assert.Equal(("promoted", 2), ((string?)deployment["state"], (int)deployment["stable"]!));
        Assert.Null(deployment["canary"]);
        Assert.Equal("""[{"version":2,"percent":100}]""", deployment["traffic"]!.ToJsonString());
        var last = (await (await client.GetAsync($"api/v1/deployments/{model}/history")).JsonAsync(HttpStatusCode.OK))["history"]![0]!;
        Assert.Equal(("system", "promote"), ((string?)last["actor"], (string?)last["action"]));
        Assert.Contains("version 1, the stable version, was deleted with force", (string?)last["reason"]);
        var answers = await Task.WhenAll(Enumerable.Range(0, 20).Select(_ => InferAsync(client, model)));
        Assert.All(answers, a => Assert.Equal((200, "2"), (a.Status, a.Header)));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_stable_version_deleted_with_force_takes_a_deployment_without_a_live_canary_along(bool abortedRollout)
    {
        var client = (await servers.GetAsync(Db.Sqlite)).Client;
        var model = await ModelAsync(client, 1, 2, 1);
        if (abortedRollout)
        {
            // An aborted rollout keeps its canary's number but gives it no traffic: the deployment is not moved onto it.
            await CreateAsync(client, $$"""{"model": "{{model}}", "traffic": [{"version": 1, "percent": 50}, {"version": 2, "percent": 50}], "plan": {"steps": [50, 100],""" +
                $$""" "dwell_seconds": 3600} }""");
            await (await client.PostAsync($"api/v1/deployments/{model}:abort", null)).JsonAsync(HttpStatusCode.OK);
        }
        else
        {
            await CreateAsync(client, $$"""{"model": "{{model}}", "traffic": [{"version": 1, "percent": 100}], "shadow": [{"version": 2}]}""");
        }

        Assert.Equal(HttpStatusCode.NoContent, (await client.DeleteAsync($"api/v1/models/{model}/versions/1?force=true")).StatusCode);

        // The deployment used to stay, routing every call to version 1: a 404 for each.
        await (await client.GetAsync($"api/v1/deployments/{model}")).ErrorAsync(HttpStatusCode.NotFound, "deployment_not_found");
        var answers = await Task.WhenAll(Enumerable.Range(0, 10).Select(_ => InferAsync(client, model)));
        Assert.All(answers, a => Assert.Equal((200, "3"), (a.Status, a.Header)));
        await WaitUntilAsync(
            async () => (await (await client.GetAsync("api/v1/audit?action=deployments.delete&limit=500")).JsonAsync(HttpStatusCode.OK))["entries"]!.AsArray()
                .Any(e => (string?)e!["actor"] == "system" &&
                    ((string?)e["target"])?.Contains($"/{model}: version 1, its stable version, was deleted with force", StringComparison.Ordinal) == true),
            "the audit log shows the deployment's deletion by the system");
    }

    [Fact]
    public async Task A_split_version_or_shadow_deleted_with_force_leaves_the_deployment_and_its_share_goes_to_the_stable_version()
    {
        var client = (await servers.GetAsync(Db.Sqlite)).Client;
        var model = await ModelAsync(client, 1, 2, 1);
        await CreateAsync(client, $$"""{"model": "{{model}}", "traffic": [{"version": 1, "percent": 70}, {"version": 2, "percent": 30}], "shadow": [{"version": 3}]}""");
        Assert.Equal(HttpStatusCode.NoContent, (await client.DeleteAsync($"api/v1/models/{model}/versions/2?force=true")).StatusCode);
        Assert.Equal(HttpStatusCode.NoContent, (await client.DeleteAsync($"api/v1/models/{model}/versions/3?force=true")).StatusCode);

        // Version 2 kept its 30%, each call of it a 404, and every later change of the deployment was refused 404
        // version_not_found for naming the versions that were gone.
        var deployment = await GetAsync(client, model);
        Assert.Equal(("active", 1), ((string?)deployment["state"], (int)deployment["stable"]!));
        Assert.Equal("""[{"version":1,"percent":100}]""", deployment["traffic"]!.ToJsonString());
        Assert.Empty(deployment["shadow"]!.AsArray());
        var history = (await (await client.GetAsync($"api/v1/deployments/{model}/history")).JsonAsync(HttpStatusCode.OK))["history"]!.AsArray();
        Assert.Equal(["update", "update", "create"], history.Select(h => (string?)h!["action"]));
        Assert.Equal("system", (string?)history[1]!["actor"]);
        Assert.Contains("version 2 was deleted with force; its 30% of the traffic to version 1", (string?)history[1]!["reason"]);
        await (await client.PatchAsync($"api/v1/deployments/{model}", Api.Json("""{"sticky": {"key": true}}"""))).JsonAsync(HttpStatusCode.OK);
        var answers = await Task.WhenAll(Enumerable.Range(0, 20).Select(_ => InferAsync(client, model)));
        Assert.All(answers, a => Assert.Equal((200, "1"), (a.Status, a.Header)));
    }

    // A model of versions 1 and 2 deployed half and half with the plan, then its canary (2) deleted with force.
    private async Task<(HttpClient Client, string Model)> CanaryDeletedWithForceAsync(string plan, bool paused = false)
    {
        var client = (await servers.GetAsync(Db.Sqlite)).Client;
        var model = await ModelAsync(client, 1, 1);
        await CreateAsync(client, $$"""{"model": "{{model}}", "traffic": [{"version": 1, "percent": 50}, {"version": 2, "percent": 50}], "plan": {{plan}} }""");
        if (paused)
        {
            using var pause = await client.PostAsync($"api/v1/deployments/{model}:pause", Api.Json("{}"));
            Assert.Equal("paused", (string?)(await pause.JsonAsync(HttpStatusCode.OK))["state"]);
        }

        Assert.Equal(HttpStatusCode.NoContent, (await client.DeleteAsync($"api/v1/models/{model}/versions/2?force=true")).StatusCode);
        return (client, model);
    }

    // Sends rounds of ten calls through the deployment until its state satisfies the condition; returns that state.
    private static async Task<JsonNode> CallUntilAsync(HttpClient client, string model, Func<JsonNode, bool> condition, string what)
    {
        JsonNode? deployment = null;
        await WaitUntilAsync(
            async () =>
            {
                await Task.WhenAll(Enumerable.Range(0, 10).Select(_ => InferAsync(client, model)));
                deployment = await GetAsync(client, model);
                return condition(deployment);
            },
            what);
        return deployment!;
    }

    [Theory]
    [OnSqlite]
    public async Task A_90_10_split_is_counted_within_binomial_bounds_and_every_answer_names_its_version(Db db)
    {
        var client = (await servers.GetAsync(db)).Client;
        var model = await ModelAsync(client, 1, 2);
        var v1 = (await InferAsync(client, model, 1)).Outputs;
        var v2 = (await InferAsync(client, model, 2)).Outputs;
        Assert.NotEqual(v1, v2);

        // Without a deployment the header names the registry's default version (the newest).
        Assert.Equal("2", (await InferAsync(client, model)).Header);
        await CreateAsync(client, $$"""{"model": "{{model}}", "traffic": [{"version": 1, "percent": 90}, {"version": 2, "percent": 10}]}""");

        const int n = 1000;
        var answers = new List<Answer>();
        for (var batch = 0; batch < n / 20; batch++)
        {
            answers.AddRange(await Task.WhenAll(Enumerable.Range(0, 20).Select(_ => InferAsync(client, model))));
        }

        Assert.All(answers, a =>
        {
            Assert.Equal(200, a.Status);
            Assert.Equal(a.BodyVersion, a.Header);
            Assert.Equal(a.Header == "1" ? v1 : v2, a.Outputs); // the version named is the one that answered
        });

        // Binomial(1000, 0.1): mean 100, sd 9.5; 5 sd either side fails a correct split about once in 1.7 million runs.
        var second = answers.Count(a => a.Header == "2");
        Assert.InRange(second, 100 - 48, 100 + 48);

        // A version in the path bypasses the deployment.
        var pinned = await Task.WhenAll(Enumerable.Range(0, 20).Select(_ => InferAsync(client, model, 2)));
        Assert.All(pinned, a => Assert.Equal("2", a.Header));

        // /predict follows the split and names the version too.
        using var predict = await client.PostAsync($"api/v1/models/{model}/predict", Api.Json("""{"inputs": {"input": [[0.5, -1.25, 2.0, 0.75]]}}"""));
        var body = await predict.JsonAsync(HttpStatusCode.OK);
        Assert.Equal((string?)body["model_version"], predict.Headers.GetValues("X-Maas-Model-Version").Single());

        // The deployment counts what it routed.
        var metrics = (await GetAsync(client, model))["metrics"]!.AsArray();
        Assert.True((long)metrics.Single(m => (int)m!["version"]! == 1)!["requests"]! >= n - second);

        // So does /metrics, per version (the predict call included), with the split's shares.
        var viaPredict = (string?)body["model_version"] == "2" ? 1 : 0;
        var label = $"model=\"{model}\"";
        await WaitUntilAsync(
            async () => Placement.Sum(await client.GetStringAsync("metrics"), "maas_deployment_requests_total", label, "version=\"2\"", "kind=\"live\"",
                "status=\"success\"") == second + viaPredict,
            "/metrics counts every routed call of version 2");
        var text = await client.GetStringAsync("metrics");
        Assert.Equal(n + 1, Placement.Sum(text, "maas_deployment_requests_total", label, "kind=\"live\""));
        Assert.Equal(n + 1, Placement.Sum(text, "maas_deployment_request_duration_seconds_count", label));
        Assert.Equal(0, Placement.Sum(text, "maas_deployment_requests_total", label, "status=\"failure\""));
        Assert.Equal(90, Placement.Sum(text, "maas_deployment_traffic_percent", label, "version=\"1\"", "role=\"stable\""));
        Assert.Equal(10, Placement.Sum(text, "maas_deployment_traffic_percent", label, "version=\"2\""));
        Assert.Equal(1, Placement.Sum(text, "maas_deployment_state", label, "state=\"active\""));
    }

    [Theory]
    [OnSqlite]
    public async Task A_sticky_header_keeps_each_client_on_one_version(Db db)
    {
        var client = (await servers.GetAsync(db)).Client;
        var model = await ModelAsync(client, 1, 2);
        await CreateAsync(client, $$"""{"model": "{{model}}", "traffic": [{"version": 1, "percent": 50}, {"version": 2, "percent": 50}], "sticky": {"header": "X-User"} }""");

        var seen = new Dictionary<string, HashSet<string>>();
        for (var user = 0; user < 24; user++)
        {
            var answers = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => InferAsync(client, model, user: $"user-{user}")));
            seen[$"user-{user}"] = answers.Select(a => a.Header!).ToHashSet();
        }

        Assert.All(seen.Values, versions => Assert.Single(versions));
        // 24 users on a 50/50 split all landing on one version: 2 in 16.7 million.
        Assert.Equal(2, seen.Values.Select(v => v.Single()).Distinct().Count());

        // "sticky": {} in a change turns stickiness off and keeps the split; the deployment then reads without it.
        var unstuck = await (await client.PatchAsync($"api/v1/deployments/{model}", Api.Json("""{"sticky": {}}"""))).JsonAsync(HttpStatusCode.OK);
        Assert.Null(unstuck["sticky"]);
        Assert.Equal([50, 50], unstuck["traffic"]!.AsArray().Select(t => (int)t!["percent"]!));
        Assert.Null((await (await client.GetAsync($"api/v1/deployments/{model}")).JsonAsync(HttpStatusCode.OK))["sticky"]);
        var spread = await Task.WhenAll(Enumerable.Range(0, 48).Select(_ => InferAsync(client, model, user: "user-0")));
        // One user on a 50/50 split drawing one version 48 times: 2 in 2^48.
        Assert.Equal(2, spread.Select(a => a.Header).Distinct().Count());
    }

    [Theory]
    [OnSqlite]
    public async Task A_shadow_never_answers_a_client_yet_its_comparisons_are_recorded(Db db)
    {
        var client = (await servers.GetAsync(db)).Client;
        // Version 2 differs from version 1; version 3 is the same model as version 1.
        var model = await ModelAsync(client, 1, 2, 1);
        var v1 = (await InferAsync(client, model, 1)).Outputs;
        await CreateAsync(client, $$"""{"model": "{{model}}", "traffic": [{"version": 1, "percent": 100}], "shadow": [{"version": 2}, {"version": 3}]}""");

        var answers = await Task.WhenAll(Enumerable.Range(0, 40).Select(_ => InferAsync(client, model)));
        Assert.All(answers, a =>
        {
            Assert.Equal("1", a.Header);
            Assert.Equal("1", a.BodyVersion);
            Assert.Equal(v1, a.Outputs);
        });

        JsonNode Version(JsonNode deployment, int version) => deployment["metrics"]!.AsArray().Single(m => (int)m!["version"]! == version)!;
        JsonNode? last = null;
        await WaitUntilAsync(
            async () =>
            {
                last = await GetAsync(client, model);
                return (long)Version(last, 2)["comparisons"]! + (long)Version(last, 2)["dropped"]! == 40
                    && (long)Version(last, 3)["comparisons"]! + (long)Version(last, 3)["dropped"]! == 40;
            },
            "every copy was compared (or dropped)");
        Assert.True((long)Version(last!, 2)["comparisons"]! > 0);
        Assert.True((double)Version(last!, 2)["max_abs_error"]! > 1e-4, last!.ToJsonString());
        Assert.Equal(0, (double)Version(last!, 2)["exact_match_rate"]!);
        Assert.Equal(0, (double)Version(last!, 3)["max_abs_error"]!);
        Assert.Equal(1, (double)Version(last!, 3)["exact_match_rate"]!);
        Assert.Equal(40, (long)Version(last!, 1)["requests"]!);

        // /metrics has the same comparisons by result, the shadows' own runs, and the shadows' role.
        var text = await client.GetStringAsync("metrics");
        var label = $"model=\"{model}\"";
        Assert.Equal((long)Version(last!, 3)["comparisons"]!, Placement.Sum(text, "maas_deployment_comparisons_total", label, "version=\"3\"", "result=\"match\""));
        Assert.Equal(0, Placement.Sum(text, "maas_deployment_comparisons_total", label, "version=\"3\"", "result=\"mismatch\""));
        Assert.Equal((long)Version(last!, 2)["comparisons"]!, Placement.Sum(text, "maas_deployment_comparisons_total", label, "version=\"2\"", "result=\"mismatch\""));
        Assert.Equal((long)Version(last!, 2)["dropped"]!, Placement.Sum(text, "maas_deployment_copies_dropped_total", label, "version=\"2\""));
        Assert.Equal((long)Version(last!, 2)["requests"]!, Placement.Sum(text, "maas_deployment_requests_total", label, "version=\"2\"", "kind=\"shadow\""));
        Assert.Equal(0, Placement.Sum(text, "maas_deployment_requests_total", label, "version=\"2\"", "kind=\"live\""));
        Assert.Contains(text.Split('\n'), l => l.StartsWith("maas_deployment_traffic_percent{", StringComparison.Ordinal) && l.Contains(label, StringComparison.Ordinal)
            && l.Contains("role=\"shadow\"", StringComparison.Ordinal) && l.Contains("version=\"3\"", StringComparison.Ordinal) && l.EndsWith(" 0", StringComparison.Ordinal));
    }

    [Theory]
    [OnSqlite]
    public async Task A_canary_with_different_outputs_is_rolled_back_within_one_analysis_step_and_a_matching_one_is_promoted(Db db)
    {
        var server = await servers.GetAsync(db);
        var client = server.Client;
        var model = await ModelAsync(client, 1, 2, 1);

        // The step would hold for an hour: only the analysis can end it.
        var plan = """{"steps": [50, 100], "dwell_seconds": 3600, "min_requests": 5, "max_abs_error": 0.001}""";
        var created = await CreateAsync(client, $$"""{"model": "{{model}}", "traffic": [{"version": 1, "percent": 90}, {"version": 2, "percent": 10}], "plan": {{plan}} }""");
        Assert.Equal(2, (int)created["canary"]!);
        Assert.Equal(50, (int)created["traffic"]!.AsArray().Single(t => (int)t!["version"]! == 2)!["percent"]!);

        var deployment = await CallUntilAsync(client, model, d => (string?)d["state"] == "rolled-back", "the bad canary is rolled back");
        Assert.Equal("""[{"version":1,"percent":100}]""", deployment["traffic"]!.ToJsonString());
        Assert.Contains("max_abs_error", (string?)deployment["reason"]);
        var answers = await Task.WhenAll(Enumerable.Range(0, 20).Select(_ => InferAsync(client, model)));
        Assert.All(answers, a => Assert.Equal("1", a.Header));

        // Rolled back within its first step: nothing advanced before it.
        var history = (await (await client.GetAsync($"api/v1/deployments/{model}/history")).JsonAsync(HttpStatusCode.OK))["history"]!.AsArray();
        Assert.Equal(["rollback", "create"], history.Select(h => (string?)h!["action"]));
        Assert.Equal("system", (string?)history[0]!["actor"]);
        Assert.Contains("max_abs_error", (string?)history[0]!["reason"]);
        await WaitUntilAsync(
            async () => (await (await client.GetAsync("api/v1/audit?actor=system&action=deployments.rollback&limit=500")).JsonAsync(HttpStatusCode.OK))["entries"]!.AsArray()
                .Any(e => ((string?)e!["target"])?.Contains("/" + model + ":", StringComparison.Ordinal) == true &&
                    ((string?)e["target"])!.Contains("max_abs_error", StringComparison.Ordinal)),
            "the rollback and its reason are in the audit log");

        // Version 3 answers exactly like version 1: each step passes after its (zero) dwell and the last promotes it.
        await (await client.PutAsync($"api/v1/deployments/{model}", Api.Json("""{"traffic": [{"version": 1, "percent": 90}, {"version": 3, "percent": 10}], "plan": {"steps":""" +
            """ [50, 100], "dwell_seconds": 0, "min_requests": 5, "max_abs_error": 0.001, "max_error_rate": 0.01} }"""))).JsonAsync(HttpStatusCode.OK);
        deployment = await CallUntilAsync(client, model, d => (string?)d["state"] == "promoted", "the matching canary is promoted");
        Assert.Equal(3, (int)deployment["stable"]!);
        var text = await client.GetStringAsync("metrics");
        Assert.Equal(1, Placement.Sum(text, "maas_deployment_rollbacks_total", $"model=\"{model}\"", "version=\"2\""));
        Assert.Equal(1, Placement.Sum(text, "maas_deployment_rollbacks_total", $"model=\"{model}\""));
        Assert.Equal(1, Placement.Sum(text, "maas_deployment_state", $"model=\"{model}\"", "state=\"promoted\""));
        Assert.Equal(100, Placement.Sum(text, "maas_deployment_traffic_percent", $"model=\"{model}\"", "version=\"3\"", "role=\"stable\""));
        history = (await (await client.GetAsync($"api/v1/deployments/{model}/history")).JsonAsync(HttpStatusCode.OK))["history"]!.AsArray();
        Assert.Equal(["promote", "step", "update"], history.Take(3).Select(h => (string?)h!["action"]));

        // A promoted deployment still takes a change of shadows or stickiness: its plan is not checked against its
        // one-version split again, and it stays promoted with all traffic on version 3.
        var shadowed = await (await client.PatchAsync($"api/v1/deployments/{model}",
            Api.Json("""{"shadow": [{"version": 1}], "sticky": {"key": true}}"""))).JsonAsync(HttpStatusCode.OK);
        Assert.Equal(("promoted", 3, 1, true), ((string?)shadowed["state"], (int)shadowed["traffic"]![0]!["version"]!, (int)shadowed["shadow"]![0]!["version"]!,
            (bool)shadowed["sticky"]!["key"]!));
        Assert.Single(shadowed["traffic"]!.AsArray());
    }

    // Loads and answers the warm-up's zeros, but fails every live call: the inputs, cast to integers, index a
    // one-entry table, and 2.0 is out of its bounds (ONNX Runtime refuses the run).
    private static byte[] FailsOnLiveInputs() =>
        new Maas.Core.Formats.Onnx.OnnxModelWriter("fails")
            .Input("input", Maas.Core.Formats.Onnx.OnnxElementType.Float, "batch", 4)
            .Output("output", Maas.Core.Formats.Onnx.OnnxElementType.Float, "batch", 3)
            .Initializer("table", [1f], [1])
            .Initializer("weight", new float[12], [4, 3])
            .Node("Cast", ["input"], ["index"], Maas.Core.Formats.Onnx.OnnxAttribute.Int("to", 7))
            .Node("Gather", ["table", "index"], ["gathered"], Maas.Core.Formats.Onnx.OnnxAttribute.Int("axis", 0))
            .Node("MatMul", ["gathered", "weight"], ["output"])
            .Producer("maas-tests", "1")
            .ToBytes();

    [Theory]
    [OnSqlite]
    public async Task A_canary_that_fails_every_live_request_is_rolled_back_on_its_error_rate(Db db)
    {
        var client = (await servers.GetAsync(db)).Client;
        var model = await client.CreateModelAsync();
        await client.UploadAsync(model, TestArtifacts.Onnx(1), "model.onnx");
        await client.UploadAsync(model, FailsOnLiveInputs(), "fails.onnx");
        var failing = await InferAsync(client, model, 2);
        Assert.True(failing.Status >= 400, $"the planted version answered {failing.Status}");

        await CreateAsync(client, $$"""{"model": "{{model}}", "traffic": [{"version": 1, "percent": 90}, {"version": 2, "percent": 10}], "plan": {"steps": [50, 100],""" +
            $$""" "dwell_seconds": 3600, "min_requests": 5, "max_error_rate": 0.05} }""");
        var deployment = await CallUntilAsync(client, model, d => (string?)d["state"] == "rolled-back", "the failing canary is rolled back");
        Assert.Contains("error rate", (string?)deployment["reason"]);
        var history = (await (await client.GetAsync($"api/v1/deployments/{model}/history")).JsonAsync(HttpStatusCode.OK))["history"]!.AsArray();
        Assert.Equal(["rollback", "create"], history.Select(h => (string?)h!["action"]));
        Assert.Equal(((string?)deployment["reason"], "system"), ((string?)history[0]!["reason"], (string?)history[0]!["actor"]));
        var answers = await Task.WhenAll(Enumerable.Range(0, 20).Select(_ => InferAsync(client, model)));
        Assert.All(answers, a => Assert.Equal((200, "1"), (a.Status, a.Header)));
    }

    [Theory]
    [OnSqlite]
    public async Task A_rollout_switched_to_a_version_that_loads_but_fails_at_run_time_rolls_back_on_its_error_rate_while_the_stable_version_serves(Db db)
    {
        var client = (await servers.GetAsync(db)).Client;
        var model = await client.CreateModelAsync();
        await client.UploadAsync(model, TestArtifacts.Onnx(1), "model.onnx");
        await client.UploadAsync(model, TestArtifacts.OnnxFailingOnLiveInputs(), "reshape.onnx");

        // The planted version is real: it loads and answers zeros, and ONNX Runtime refuses every live input.
        using (var zeros = await client.PostAsync($"v2/models/{model}/versions/2/infer",
            Api.Json("""{"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": [0, 0, 0, 0]}]}""")))
        {
            await zeros.JsonAsync(HttpStatusCode.OK);
        }

        var direct = await InferAsync(client, model, 2);
        Assert.True(direct.Status >= 500, $"the planted version answered a live input with {direct.Status}");

        // Serving version 1, then switched to a rollout of version 2: the switch's warm-up (a row of zeros) passes.
        await CreateAsync(client, $$"""{"model": "{{model}}", "traffic": [{"version": 1, "percent": 100}]}""");
        var switched = await (await client.PatchAsync($"api/v1/deployments/{model}", Api.Json("""{"traffic": [{"version": 1, "percent": 90}, {"version": 2, "percent": 10}],""" +
            """ "plan": {"steps": [50, 100], "dwell_seconds": 3600, "min_requests": 5, "max_error_rate": 0.05} }"""))).JsonAsync(HttpStatusCode.OK);
        Assert.Equal(2, (int)switched["canary"]!);
        Assert.Equal("active", (string?)switched["state"]);

        // Clients call until the analysis rolls the canary back. Every answer is version 1's success or version 2's
        // failure (an error answer names the version that failed in its header too).
        var answers = new List<Answer>();
        JsonNode? deployment = null;
        await WaitUntilAsync(
            async () =>
            {
                answers.AddRange(await Task.WhenAll(Enumerable.Range(0, 10).Select(_ => InferAsync(client, model))));
                deployment = await GetAsync(client, model);
                return (string?)deployment["state"] == "rolled-back";
            },
            "the canary that fails at run time is rolled back");
        Assert.All(answers, a => Assert.True(a.Status == 200 ? (a.Header, a.BodyVersion) == ("1", "1") : a.Status >= 500 && a.Header == "2",
            $"{a.Status} from version {a.Header}"));
        Assert.Contains(answers, a => a.Status == 200);
        Assert.Contains(answers, a => a.Status != 200);
        Assert.Equal("""[{"version":1,"percent":100}]""", deployment!["traffic"]!.ToJsonString());
        Assert.Equal(1, (int)deployment["stable"]!);
        var reason = (string?)deployment["reason"];
        Assert.Contains("version 2 failed step 1: error rate", reason);
        Assert.Contains("all traffic back to version 1", reason);

        // The reason is in the deployment's history (by the system) and in the audit log.
        var history = (await (await client.GetAsync($"api/v1/deployments/{model}/history")).JsonAsync(HttpStatusCode.OK))["history"]!.AsArray();
        Assert.Equal(["rollback", "update", "create"], history.Select(h => (string?)h!["action"]));
        Assert.Equal("system", (string?)history[0]!["actor"]);
        Assert.Equal(reason, (string?)history[0]!["reason"]);
        await WaitUntilAsync(
            async () => (await (await client.GetAsync("api/v1/audit?actor=system&action=deployments.rollback&limit=500")).JsonAsync(HttpStatusCode.OK))["entries"]!.AsArray()
                .Any(e => ((string?)e!["target"])?.EndsWith("/" + model + ": " + reason, StringComparison.Ordinal) == true),
            "the rollback and its reason are in the audit log");

        // From now on every client is served by the stable version.
        var after = await Task.WhenAll(Enumerable.Range(0, 20).Select(_ => InferAsync(client, model)));
        Assert.All(after, a => Assert.Equal((200, "1", "1"), (a.Status, a.Header, a.BodyVersion)));

        // Whose answers were whose: every routed call of version 1 succeeded, every failure was version 2's.
        var served = answers.Count(a => a.Status == 200) + after.Length;
        var failed = answers.Count(a => a.Status != 200);
        var metrics = "";
        await WaitUntilAsync(
            async () =>
            {
                metrics = await client.GetStringAsync("metrics");
                return Placement.Sum(metrics, "maas_deployment_requests_total", $"model=\"{model}\"", "kind=\"live\"") >= served + failed;
            },
            "every routed call is counted");
        Assert.Equal(served, Placement.Sum(metrics, "maas_deployment_requests_total", $"model=\"{model}\"", "version=\"1\"", "status=\"success\""));
        Assert.Equal(0, Placement.Sum(metrics, "maas_deployment_requests_total", $"model=\"{model}\"", "version=\"1\"", "status=\"failure\""));
        Assert.Equal(failed, Placement.Sum(metrics, "maas_deployment_requests_total", $"model=\"{model}\"", "version=\"2\"", "status=\"failure\""));
        Assert.Equal(0, Placement.Sum(metrics, "maas_deployment_requests_total", $"model=\"{model}\"", "version=\"2\"", "status=\"success\""));
        Assert.Equal(1, Placement.Sum(metrics, "maas_deployment_rollbacks_total", $"model=\"{model}\"", "version=\"2\""));
    }
}
