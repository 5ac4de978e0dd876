using System.Net;
using System.Text.Json.Nodes;
using Google.Protobuf;
using Maas.Core.Tenancy;
using Maas.Server.Deployments;
using Maas.Server.TensorInference.Grpc.Protocol;
using Maas.Server.Tests.ModelHosting;
using Maas.Server.Tests.Support;
using Maas.Server.Tests.TensorInference;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using static Maas.Testing.Conditions;

namespace Maas.Server.Tests.Deployments;

/// <summary>Deployment servers that also serve gRPC, so every protocol's answer can be checked for its version.</summary>
public sealed class DeploymentGrpcServers : ServerPerDb
{
    /// <inheritdoc />
    protected override IReadOnlyDictionary<string, string?> Settings { get; } = new Dictionary<string, string?>(DeploymentServers.Fast)
    {
        ["Maas:Inference:GrpcUrl"] = "http://127.0.0.1:0",
    };
}

/// <summary>
/// The deployment contract end to end on a real server: the version named on every protocol's answers and errors,
/// stickiness by API key, pause holding a rollout, manual promotion, a latency check, and the hot swap's warm-up.
/// </summary>
public sealed class DeploymentContractTests(DeploymentGrpcServers servers) : IClassFixture<DeploymentGrpcServers>
{
    private const string Row = """{"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": [0.5, -1.25, 2.0, 0.75]}]}""";

    // Three values where the model takes four per row: refused by the version the call was routed to.
    private const string WrongShape = """{"inputs": [{"name": "input", "shape": [1, 3], "datatype": "FP32", "data": [0.5, -1.25, 2.0]}]}""";

    private static async Task<string> ModelAsync(HttpClient client, params int[] seeds)
    {
        var name = await client.CreateModelAsync();
        foreach (var seed in seeds)
        {
            await client.UploadAsync(name, TestArtifacts.Onnx(seed), "model.onnx");
        }

        return name;
    }

    private static async Task<JsonNode> DeploymentAsync(HttpClient client, string name) =>
        await (await client.GetAsync($"api/v1/deployments/{name}")).JsonAsync(HttpStatusCode.OK);

    private static async Task<JsonArray> HistoryAsync(HttpClient client, string name) =>
        (await (await client.GetAsync($"api/v1/deployments/{name}/history")).JsonAsync(HttpStatusCode.OK))["history"]!.AsArray();

    private static string? Header(HttpResponseMessage response) =>
        response.Headers.TryGetValues(DeploymentRouter.VersionHeader, out var values) ? values.Single() : null;

    // One OIP v2 call: its status and version header.
    private static async Task<(HttpStatusCode Status, string? Version)> InferAsync(HttpClient client, string model)
    {
        using var response = await client.PostAsync($"v2/models/{model}/infer", Api.Json(Row));
        return (response.StatusCode, Header(response));
    }

    private static ModelInferRequest GrpcRequest(string model, params float[] values)
    {
        var request = new ModelInferRequest { ModelName = model };
        var input = new ModelInferRequest.Types.InferInputTensor { Name = "input", Datatype = "FP32" };
        input.Shape.Add([1, values.Length]);
        request.Inputs.Add(input);
        request.RawInputContents.Add(ByteString.CopyFrom(InferenceHost.Floats(values)));
        return request;
    }

    [Fact]
    public async Task Every_protocol_names_the_version_the_deployment_picked_on_its_answers_and_on_its_errors()
    {
        var server = await servers.GetAsync(Db.Sqlite);
        var client = server.Client;

        // The registry's default is the newest version (2); the deployment sends every call to version 1, so a "1"
        // can only come from the deployment.
        var model = await ModelAsync(client, 1, 2);
        await (await client.PostAsync("api/v1/deployments",
            Api.Json($$"""{"model": "{{model}}", "traffic": [{"version": 1, "percent": 100}]}"""))).JsonAsync(HttpStatusCode.Created);

        // OIP v2 REST: the body's model_version and the header, on an answer and on an error.
        using (var ok = await client.PostAsync($"v2/models/{model}/infer", Api.Json(Row)))
        {
            var body = await ok.JsonAsync(HttpStatusCode.OK);
            Assert.Equal(("1", "1"), ((string?)body["model_version"], Header(ok)));
        }

        using (var refused = await client.PostAsync($"v2/models/{model}/infer", Api.Json(WrongShape)))
        {
            Assert.Equal(HttpStatusCode.BadRequest, refused.StatusCode);
            Assert.Equal("1", Header(refused));
        }

        // /predict: the same on its answer and on its error (the management API's error shape).
        using (var ok = await client.PostAsync($"api/v1/models/{model}/predict", Api.Json("""{"inputs": {"input": [[0.5, -1.25, 2.0, 0.75]]}}""")))
        {
            var body = await ok.JsonAsync(HttpStatusCode.OK);
            Assert.Equal(("1", "1"), ((string?)body["model_version"], Header(ok)));
        }

        using (var refused = await client.PostAsync($"api/v1/models/{model}/predict", Api.Json("""{"inputs": {"nope": [[0.5, -1.25, 2.0, 0.75]]}}""")))
        {
            await refused.ErrorAsync(HttpStatusCode.BadRequest, "invalid_input");
            Assert.Equal("1", Header(refused));
        }

        // Without a deployment the header names the version the name resolved to (the newest), on errors too.
        var plain = await ModelAsync(client, 1, 2);
        using (var refused = await client.PostAsync($"v2/models/{plain}/infer", Api.Json(WrongShape)))
        {
            Assert.Equal((HttpStatusCode.BadRequest, "2"), (refused.StatusCode, Header(refused)));
        }

        using (var refused = await client.PostAsync($"api/v1/models/{plain}/predict", Api.Json("""{"inputs": {"nope": [[0.5, -1.25, 2.0, 0.75]]}}""")))
        {
            await refused.ErrorAsync(HttpStatusCode.BadRequest, "invalid_input");
            Assert.Equal("2", Header(refused));
        }

        // gRPC: model_version in the message and the header in the response metadata, on an answer and on an error.
        using var grpc = new GrpcTestClient(server.GrpcAddress());
        var answered = await grpc.CallAsync("ModelInfer", GrpcRequest(model, 0.5f, -1.25f, 2f, 0.75f), ModelInferResponse.Parser);
        Assert.True(answered.Status == 0, answered.Message);
        Assert.Equal(("1", "1"), (answered.Single.ModelVersion, Header(answered.Http)));
        var failed = await grpc.CallAsync("ModelInfer", GrpcRequest(model, 0.5f, -1.25f, 2f), ModelInferResponse.Parser);
        Assert.Equal(3, failed.Status); // INVALID_ARGUMENT
        Assert.Equal("1", Header(failed.Http));

        // Without a deployment a gRPC error names the version the name resolved to (the newest), as REST's do.
        var plainFailed = await grpc.CallAsync("ModelInfer", GrpcRequest(plain, 0.5f, -1.25f, 2f), ModelInferResponse.Parser);
        Assert.Equal((3, "2"), (plainFailed.Status, Header(plainFailed.Http)));

        // A gRPC stream: each message follows the deployment and names its version.
        var stream = await grpc.CallRawAsync(
            "ModelStreamInfer",
            [GrpcRequest(model, 0.5f, -1.25f, 2f, 0.75f).ToByteArray(), GrpcRequest(model, 1f, 2f, 3f, 4f).ToByteArray()],
            ModelStreamInferResponse.Parser);
        Assert.True(stream.Status == 0, stream.Message);
        Assert.Equal(["1", "1"], stream.Responses.Select(r => r.InferResponse.ModelVersion));
        Assert.Equal("1", Header(stream.Http));

        // OpenAI: a language model's deployment names its version on an answer and on an error its version refused.
        var words = await client.CreateModelAsync();
        await client.UploadAsync(words, TestArtifacts.Gguf(1), "a.gguf");
        await client.UploadAsync(words, TestArtifacts.Gguf(2), "b.gguf");
        await (await client.PostAsync("api/v1/deployments",
            Api.Json($$"""{"model": "{{words}}", "traffic": [{"version": 1, "percent": 100}]}"""))).JsonAsync(HttpStatusCode.Created);
        using (var ok = await client.PostAsync("v1/chat/completions", Api.Json($$"""{"model": "{{words}}", "max_tokens": 2, "messages": [{"role": "user", "content": "hi"}]}""")))
        {
            await ok.JsonAsync(HttpStatusCode.OK);
            Assert.Equal("1", Header(ok));
        }

        // Token 5000 is past the generated model's 300-token vocabulary: only the version itself can tell.
        using (var refused = await client.PostAsync("v1/completions", Api.Json($$"""{"model": "{{words}}", "max_tokens": 2, "prompt": "hi", "logit_bias": {"5000": 1} }""")))
        {
            var error = await refused.ErrorAsync(HttpStatusCode.BadRequest, "invalid_value");
            Assert.Contains("vocabulary", (string?)error["message"]);
            Assert.Equal("1", Header(refused));
        }
    }

    [Fact]
    public async Task Sticky_by_api_key_keeps_each_key_on_one_version()
    {
        var server = await servers.GetAsync(Db.Sqlite);
        var admin = server.Client;
        var tenant = await server.NewTenantAsync();
        async Task<HttpClient> KeyAsync(params string[] scopes) => server.CreateClient(await server.NewKeyAsync(tenant, scopes));

        using var writer = await KeyAsync(MaasScopes.ModelsWrite, MaasScopes.Infer);
        var model = await ModelAsync(writer, 1, 2);
        var created = await (await writer.PostAsync("api/v1/deployments",
            Api.Json($$"""{"model": "{{model}}", "traffic": [{"version": 1, "percent": 50}, {"version": 2, "percent": 50}], "sticky": {"key": true} }""")))
            .JsonAsync(HttpStatusCode.Created);
        Assert.Equal("""{"key":true}""", created["sticky"]!.ToJsonString());

        var seen = new List<HashSet<string?>>();
        for (var k = 0; k < 24; k++)
        {
            using var caller = await KeyAsync(MaasScopes.Infer);
            var answers = await Task.WhenAll(Enumerable.Range(0, 6).Select(_ => InferAsync(caller, model)));
            Assert.All(answers, a => Assert.Equal(HttpStatusCode.OK, a.Status));
            seen.Add(answers.Select(a => a.Version).ToHashSet());
        }

        Assert.All(seen, versions => Assert.Single(versions));

        // 24 keys on a 50/50 split all landing on one version: 2 in 16.7 million.
        Assert.Equal(["1", "2"], seen.Select(v => v.Single()).Distinct().Order());
    }

    [Fact]
    public async Task A_paused_rollout_holds_its_step_with_enough_evidence_until_resumed_and_promote_and_delete_are_audited()
    {
        var server = await servers.GetAsync(Db.Sqlite);
        var client = server.Client;
        var analysis = server.Services.GetServices<IHostedService>().OfType<DeploymentAnalysis>().Single();
        var model = await ModelAsync(client, 1, 2);

        // Each step would pass on its first five canary requests (no dwell); paused before any call is counted.
        var plan = """{"steps": [50, 100], "dwell_seconds": 0, "min_requests": 5, "max_error_rate": 0.5}""";
        await (await client.PostAsync("api/v1/deployments",
            Api.Json($$"""{"model": "{{model}}", "traffic": [{"version": 1, "percent": 90}, {"version": 2, "percent": 10}], "plan": {{plan}} }""")))
            .JsonAsync(HttpStatusCode.Created);
        var paused = await (await client.PostAsync($"api/v1/deployments/{model}:pause", null)).JsonAsync(HttpStatusCode.OK);
        Assert.Equal(("paused", 0), ((string?)paused["state"], (int)paused["step"]!));

        // The split stands while paused, and the canary answers more than enough requests to pass its step.
        var answers = await Task.WhenAll(Enumerable.Range(0, 40).Select(_ => InferAsync(client, model)));
        Assert.All(answers, a => Assert.Equal(HttpStatusCode.OK, a.Status));
        Assert.Equal(["1", "2"], answers.Select(a => a.Version).Distinct().Order());
        await WaitUntilAsync(
            async () => (long)(await DeploymentAsync(client, model))["metrics"]!.AsArray().Single(m => (int)m!["version"]! == 2)!["requests"]! >= 5,
            "the canary's requests are counted");

        // An analysis pass finds a step it would advance, but the deployment is paused: nothing moves.
        await analysis.TickAsync(CancellationToken.None);
        var held = await DeploymentAsync(client, model);
        Assert.Equal(("paused", 0), ((string?)held["state"], (int)held["step"]!));
        Assert.Equal("""[{"version":1,"percent":50},{"version":2,"percent":50}]""", held["traffic"]!.ToJsonString());
        Assert.Equal("pause", (string?)(await HistoryAsync(client, model))[0]!["action"]);

        // Resumed, the step starts afresh and the analysis moves it on.
        Assert.Equal("active", (string?)(await (await client.PostAsync($"api/v1/deployments/{model}:resume", null)).JsonAsync(HttpStatusCode.OK))["state"]);
        await WaitUntilAsync(
            async () =>
            {
                await Task.WhenAll(Enumerable.Range(0, 10).Select(_ => InferAsync(client, model)));
                var d = await DeploymentAsync(client, model);
                return (string?)d["state"] == "promoted" || (int?)d["step"] >= 1;
            },
            "the resumed rollout advances");
        var history = await HistoryAsync(client, model);
        var actions = history.Select(h => ((string?)h!["action"], (string?)h["actor"])).Reverse().ToArray();
        Assert.Equal(("create", "pause", "resume"), (actions[0].Item1, actions[1].Item1, actions[2].Item1));
        Assert.Equal(("step", "system"), actions[3]);

        // A plain split (no plan) is promoted by hand to the version named, which becomes the stable one.
        var other = await ModelAsync(client, 1, 2, 1);
        await (await client.PostAsync("api/v1/deployments", Api.Json($$"""{"model": "{{other}}", "traffic": [{"version": 1, "percent": 90}, {"version": 2, "percent": 10}]}""")))
            .JsonAsync(HttpStatusCode.Created);
        await (await client.PostAsync($"api/v1/deployments/{other}:promote", Api.Json("""{"version": 9}"""))).ErrorAsync(HttpStatusCode.NotFound, "version_not_found");
        var promoted = await (await client.PostAsync($"api/v1/deployments/{other}:promote", Api.Json("""{"version": 3}"""))).JsonAsync(HttpStatusCode.OK);
        Assert.Equal(("promoted", 3), ((string?)promoted["state"], (int)promoted["stable"]!));
        Assert.Equal("""[{"version":3,"percent":100}]""", promoted["traffic"]!.ToJsonString());
        Assert.All(await Task.WhenAll(Enumerable.Range(0, 10).Select(_ => InferAsync(client, other))), a => Assert.Equal((HttpStatusCode.OK, "3"), a));
        var promotion = (await HistoryAsync(client, other))[0]!;
        Assert.Equal("promote", (string?)promotion["action"]);
        Assert.NotEqual("system", (string?)promotion["actor"]);
        Assert.Equal(HttpStatusCode.NoContent, (await client.DeleteAsync($"api/v1/deployments/{other}")).StatusCode);

        // The audit log has each caller's change under its action.
        await WaitUntilAsync(
            async () =>
            {
                var entries = (await (await client.GetAsync("api/v1/audit?action=deployments.&limit=500")).JsonAsync(HttpStatusCode.OK))["entries"]!.AsArray();
                string[] Of(string name) => entries.Where(e => ((string?)e!["target"])?.EndsWith("/" + name, StringComparison.Ordinal) == true).Select(e => (string)e!["action"]!)
                    .ToArray();
                var first = Of(model);
                var second = Of(other);
                return new[] { "deployments.create", "deployments.pause", "deployments.resume" }.All(first.Contains)
                    && new[] { "deployments.create", "deployments.promote", "deployments.delete" }.All(second.Contains);
            },
            "the audit log shows pause, resume, promote and delete");
    }

    [Fact]
    public async Task A_canary_over_its_p99_latency_limit_is_rolled_back_within_its_first_step_with_the_measured_latency_in_history_and_audit()
    {
        var client = (await servers.GetAsync(Db.Sqlite)).Client;
        var model = await ModelAsync(client, 1, 1);

        // The same weights, but no real request answers within a microsecond: only the latency check can fail it.
        var plan = """{"steps": [50, 100], "dwell_seconds": 3600, "min_requests": 5, "max_error_rate": 0.5, "max_p99_ms": 0.001}""";
        await (await client.PostAsync("api/v1/deployments",
            Api.Json($$"""{"model": "{{model}}", "traffic": [{"version": 1, "percent": 90}, {"version": 2, "percent": 10}], "plan": {{plan}} }""")))
            .JsonAsync(HttpStatusCode.Created);
        var deployment = await ReadUntilAsync(
            async () =>
            {
                Assert.All(await Task.WhenAll(Enumerable.Range(0, 10).Select(_ => InferAsync(client, model))), a => Assert.Equal(HttpStatusCode.OK, a.Status));
                return await DeploymentAsync(client, model);
            },
            d => (string?)d["state"] == "rolled-back",
            "the slow canary is rolled back");
        var reason = (string)deployment["reason"]!;
        Assert.Matches(@"^version 2 failed step 1: p99 latency [0-9.]+ ms > max_p99_ms 0\.001 over [0-9]+ requests; all traffic back to version 1$", reason);
        Assert.Equal("""[{"version":1,"percent":100}]""", deployment["traffic"]!.ToJsonString());

        // Within its first step: nothing advanced before the rollback.
        var history = await HistoryAsync(client, model);
        Assert.Equal(["rollback", "create"], history.Select(h => (string?)h!["action"]));
        Assert.Equal(("system", reason), ((string?)history[0]!["actor"], (string?)history[0]!["reason"]));
        await WaitUntilAsync(
            async () => (await (await client.GetAsync("api/v1/audit?actor=system&action=deployments.rollback&limit=500")).JsonAsync(HttpStatusCode.OK))["entries"]!.AsArray()
                .Any(e => ((string?)e!["target"])?.EndsWith("/" + model + ": " + reason, StringComparison.Ordinal) == true),
            "the rollback and its reason are in the audit log");
    }

    [Fact]
    public async Task A_switch_loads_and_warms_the_new_version_before_it_gets_traffic_then_unloads_the_old_one()
    {
        var client = (await servers.GetAsync(Db.Sqlite)).Client;
        var model = await ModelAsync(client, 1, 2);
        await (await client.PostAsync("api/v1/deployments",
            Api.Json($$"""{"model": "{{model}}", "traffic": [{"version": 1, "percent": 100}]}"""))).JsonAsync(HttpStatusCode.Created);
        Assert.Equal((HttpStatusCode.OK, "1"), await InferAsync(client, model));

        async Task<string?> StateAsync(int version) =>
            (await Placement.LoadedAsync(client)).GetProperty("models").EnumerateArray()
                .Where(m => m.GetProperty("model").GetString() == model && m.GetProperty("version").GetInt32() == version)
                .Select(m => m.GetProperty("state").GetString())
                .SingleOrDefault();

        async Task<long> SuccessesAsync(int version)
        {
            var (status, stats) = await client.GetJsonAsync($"/v2/models/{model}/versions/{version}/stats");
            return status == HttpStatusCode.OK
                ? stats.GetProperty("model_stats").EnumerateArray().Sum(s => s.GetProperty("inference_stats").GetProperty("success").GetProperty("count").GetInt64())
                : 0;
        }

        Assert.Null(await StateAsync(2));
        Assert.Equal(0, await SuccessesAsync(2));

        // No client has called version 2: when the switch answers, it is loaded and has answered one sample request.
        var switched = await (await client.PatchAsync($"api/v1/deployments/{model}", Api.Json("""{"traffic": [{"version": 2, "percent": 100}]}"""))).JsonAsync(HttpStatusCode.OK);
        Assert.Equal("""[{"version":2,"percent":100}]""", switched["traffic"]!.ToJsonString());
        Assert.Equal("ready", await StateAsync(2));
        Assert.Equal(1, await SuccessesAsync(2));
        Assert.Equal((HttpStatusCode.OK, "2"), await InferAsync(client, model));

        // Version 1 lost all traffic: it unloads.
        await WaitUntilAsync(async () => await StateAsync(1) is null, "version 1 unloads");
        Assert.Equal("ready", await StateAsync(2));
    }
}
