using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Maas.Server.Tests.Support;
using Maas.Testing;

namespace Maas.Server.Tests.Deployments;

/// <summary>Deployment servers whose shadow runs go one at a time, so each copy generates in the same batch shape as its live call.</summary>
public sealed class TextShadowServers : ServerPerDb
{
    /// <inheritdoc />
    protected override IReadOnlyDictionary<string, string?> Settings { get; } = new Dictionary<string, string?>(DeploymentServers.Fast)
    {
        ["Maas:Deployments:ShadowConcurrency"] = "1",
    };
}

/// <summary>
/// Shadow copies and canary comparisons of OpenAI text calls (chat and completions, streamed or not) on a real server
/// with generated GGUF models: greedy sampling makes each version's text a fixed function of the request.
/// </summary>
public sealed class TextShadowTests(TextShadowServers servers) : IClassFixture<TextShadowServers>
{
    private static readonly TimeSpan Ceiling = TimeSpan.FromSeconds(90);

    // Seeds 1 and 2 are different models; version 3 is seed 1 again (the same text as version 1).
    private static async Task<string> ModelAsync(HttpClient client, params ulong[] seeds)
    {
        var name = await client.CreateModelAsync();
        foreach (var seed in seeds)
        {
            await client.UploadAsync(name, TestArtifacts.Gguf(seed), "model.gguf");
        }

        return name;
    }

    private sealed record TextCall(string Path, string Body);

    private static IReadOnlyList<TextCall> Calls(string model, string target)
    {
        var calls = new List<TextCall>();
        foreach (var stream in new[] { false, true })
        {
            var s = stream ? "true" : "false";
            foreach (var words in new[] { "hello there", "tell me a story" })
            {
                calls.Add(new("v1/chat/completions",
                    $$"""{"model": "{{target}}", "stream": {{s}}, "temperature": 0, "max_tokens": 4, "n": 2, "messages": [{"role": "user", "content": "{{words}}"}]}"""));
            }

            calls.Add(new("v1/completions",
                $$"""{"model": "{{target}}", "stream": {{s}}, "temperature": 0, "max_tokens": 4, "prompt": ["once upon a time", "the weather today"]}"""));
        }

        return calls;
    }

    // The text of each choice (streamed chunks joined) and the version header.
    private static async Task<(string Version, string[] Texts)> CallAsync(HttpClient client, TextCall call)
    {
        using var response = await client.PostAsync(call.Path, Api.Json(call.Body));
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, body);
        var version = response.Headers.GetValues("X-Maas-Model-Version").Single();
        var texts = new SortedDictionary<int, StringBuilder>();
        void Add(JsonNode choice)
        {
            var index = (int)choice["index"]!;
            var text = (string?)(choice["message"]?["content"] ?? choice["delta"]?["content"] ?? choice["text"]) ?? "";
            (texts.TryGetValue(index, out var b) ? b : texts[index] = new StringBuilder()).Append(text);
        }

        if (response.Content.Headers.ContentType?.MediaType == "text/event-stream")
        {
            foreach (var line in body.Split('\n').Where(l => l.StartsWith("data: ", StringComparison.Ordinal) && l != "data: [DONE]"))
            {
                foreach (var choice in JsonNode.Parse(line["data: ".Length..])!["choices"]!.AsArray())
                {
                    Add(choice!);
                }
            }
        }
        else
        {
            foreach (var choice in JsonNode.Parse(body)!["choices"]!.AsArray())
            {
                Add(choice!);
            }
        }

        return (version, texts.Values.Select(b => b.ToString()).ToArray());
    }

    private static JsonNode Metrics(JsonNode deployment, int version) =>
        deployment["metrics"]!.AsArray().SingleOrDefault(m => (int)m!["version"]! == version) ??
        new JsonObject { ["version"] = version, ["requests"] = 0, ["comparisons"] = 0, ["dropped"] = 0, ["exact_match_rate"] = 1 };

    private static Task<JsonNode> WaitForAsync(HttpClient client, string model, Func<JsonNode, bool> condition, string what) =>
        Conditions.ReadUntilAsync(
            async () => await (await client.GetAsync($"api/v1/deployments/{model}")).JsonAsync(HttpStatusCode.OK),
            condition,
            what,
            Ceiling,
            deployment => deployment.ToJsonString());

    [Fact]
    public async Task Copies_of_chat_and_completion_calls_streamed_or_not_run_whole_on_the_shadows_and_are_compared_but_never_answer()
    {
        var client = (await servers.GetAsync(Db.Sqlite)).Client;
        var model = await ModelAsync(client, 1, 2, 1);

        // What each version says to each call when named directly (no deployment yet, so no copies either).
        var calls = Calls(model, model);
        var expectedMatchesOfV2 = 0;
        var v1Texts = new List<string[]>();
        foreach (var call in Calls(model, model + "/versions/1"))
        {
            var v1 = await CallAsync(client, call);
            var v2 = await CallAsync(client, call with { Body = call.Body.Replace("/versions/1", "/versions/2", StringComparison.Ordinal) });
            Assert.Equal("1", v1.Version);
            Assert.Equal("2", v2.Version);
            v1Texts.Add(v1.Texts);
            expectedMatchesOfV2 += v1.Texts.SequenceEqual(v2.Texts) ? 1 : 0;
        }

        Assert.True(expectedMatchesOfV2 < calls.Count, "versions 1 and 2 should differ on some call");
        await (await client.PostAsync("api/v1/deployments",
            Api.Json($$"""{"model": "{{model}}", "traffic": [{"version": 1, "percent": 100}], "shadow": [{"version": 2}, {"version": 3}]}""")))
            .JsonAsync(HttpStatusCode.Created);

        // One call at a time: each live answer comes from version 1, whole, whatever the shadows say.
        for (var i = 0; i < calls.Count; i++)
        {
            var live = await CallAsync(client, calls[i]);
            Assert.Equal("1", live.Version);
            Assert.Equal(v1Texts[i], live.Texts);
        }

        var done = await WaitForAsync(
            client,
            model,
            d => (long)Metrics(d, 2)["comparisons"]! + (long)Metrics(d, 2)["dropped"]! == calls.Count
                && (long)Metrics(d, 3)["comparisons"]! + (long)Metrics(d, 3)["dropped"]! == calls.Count,
            "every copy was compared");
        Assert.Equal(0, (long)Metrics(done, 2)["dropped"]!);
        Assert.Equal(0, (long)Metrics(done, 3)["dropped"]!);
        Assert.Equal(calls.Count, (long)Metrics(done, 1)["requests"]!);
        Assert.Equal(calls.Count, (long)Metrics(done, 2)["requests"]!);
        Assert.Equal(0, (long)Metrics(done, 2)["errors"]!);
        // Version 3 is version 1's model: every copy matches; version 2 matches exactly where it said the same directly.
        Assert.Equal(1, (double)Metrics(done, 3)["exact_match_rate"]!);
        Assert.Equal((double)expectedMatchesOfV2 / calls.Count, (double)Metrics(done, 2)["exact_match_rate"]!, 9);
    }

    [Fact]
    public async Task Copies_of_an_ollama_generate_that_goes_on_from_a_context_run_on_the_shadows_from_its_text()
    {
        var client = (await servers.GetAsync(Db.Sqlite)).Client;
        var model = await ModelAsync(client, 1, 2, 1);
        var first = await (await client.PostAsync("api/generate",
            Api.Json($$$"""{"model": "{{{model}}}:1", "prompt": "hello there", "stream": false, "options": {"num_predict": 4, "temperature": 0}}""")))
            .JsonAsync(HttpStatusCode.OK);
        var context = first["context"]!.ToJsonString();
        Assert.True(first["context"]!.AsArray().Count > 10, context);
        await (await client.PostAsync("api/v1/deployments",
            Api.Json($$"""{"model": "{{model}}", "traffic": [{"version": 1, "percent": 100}], "shadow": [{"version": 2}, {"version": 3}]}""")))
            .JsonAsync(HttpStatusCode.Created);

        // The live answers come from version 1; each shadow gets the context's text in its own tokens, after the serving
        // engine was released, and generates from it without an error.
        foreach (var stream in new[] { "false", "true" })
        {
            using var response = await client.PostAsync("api/generate", Api.Json(
                $$$"""{"model": "{{{model}}}", "prompt": "and then?", "context": {{{context}}}, "stream": {{{stream}}}, "options": {"num_predict": 4, "temperature": 0}}"""));
            Assert.True(response.StatusCode == HttpStatusCode.OK, await response.Content.ReadAsStringAsync());
            Assert.Equal("1", response.Headers.GetValues("X-Maas-Model-Version").Single());
        }

        var done = await WaitForAsync(
            client,
            model,
            d => (long)Metrics(d, 2)["comparisons"]! + (long)Metrics(d, 2)["dropped"]! == 2
                && (long)Metrics(d, 3)["comparisons"]! + (long)Metrics(d, 3)["dropped"]! == 2,
            "both copies were compared");
        foreach (var version in new[] { 2, 3 })
        {
            Assert.Equal(0, (long)Metrics(done, version)["dropped"]!);
            Assert.Equal(0, (long)Metrics(done, version)["errors"]!);
        }

        // Version 3 is version 1's model: the context's text is the same tokens to it, so it says the same; each copy's
        // prompt held the context (beside them it has read no more than a warm-up's few tokens).
        Assert.Equal(1, (double)Metrics(done, 3)["exact_match_rate"]!);
        var v3 = (await (await client.GetAsync("api/v1/llm/engines")).JsonAsync(HttpStatusCode.OK)).AsArray()
            .Single(e => (string?)e!["model"] == model && (int)e["version"]! == 3)!;
        Assert.True((long)v3["statistics"]!["prompt_tokens"]! >= 2 * first["context"]!.AsArray().Count, v3.ToJsonString());
    }

    [Fact]
    public async Task A_text_canary_whose_answers_differ_from_the_stable_version_is_rolled_back_on_its_exact_match_rate()
    {
        var client = (await servers.GetAsync(Db.Sqlite)).Client;
        var model = await ModelAsync(client, 1, 2);
        var probe = Calls(model, model + "/versions/1")[0];
        var stable = await CallAsync(client, probe);
        var canary = await CallAsync(client, probe with { Body = probe.Body.Replace("/versions/1", "/versions/2", StringComparison.Ordinal) });
        Assert.False(stable.Texts.AsEnumerable().SequenceEqual(canary.Texts), "versions 1 and 2 should answer the probe differently");

        // Half the calls go to the canary; each of those is also asked of version 1 and compared.
        var plan = """{"steps": [50, 100], "dwell_seconds": 3600, "min_requests": 3, "min_exact_match": 0.99}""";
        await (await client.PostAsync("api/v1/deployments",
            Api.Json($$"""{"model": "{{model}}", "traffic": [{"version": 1, "percent": 90}, {"version": 2, "percent": 10}], "plan": {{plan}} }""")))
            .JsonAsync(HttpStatusCode.Created);
        var call = Calls(model, model)[0];
        var deployment = await Maas.Testing.Conditions.ReadUntilAsync(
            async () =>
            {
                await CallAsync(client, call);
                return await (await client.GetAsync($"api/v1/deployments/{model}")).JsonAsync(HttpStatusCode.OK);
            },
            d => (string?)d["state"] == "rolled-back",
            "the canary is rolled back",
            Ceiling);

        Assert.Contains("min_exact_match", (string?)deployment["reason"]);
        Assert.Equal("""[{"version":1,"percent":100}]""", deployment["traffic"]!.ToJsonString());
    }

    [Fact]
    public async Task A_full_shadow_queue_drops_copies_counts_them_and_the_live_calls_all_succeed()
    {
        using var folder = new TempDirectory("maas-text-shadow-drop");
        await using var database = await TestDatabase.CreateAsync(Db.Sqlite);
        await using var server = await MaasTestServer.StartAsync(
            database,
            new Dictionary<string, string?>(DeploymentServers.Fast) { ["Maas:Deployments:ShadowQueueLength"] = "1", ["Maas:Deployments:ShadowConcurrency"] = "1" },
            folder.Path);
        var client = server.Client;
        var model = await ModelAsync(client, 1, 2);
        await (await client.PostAsync("api/v1/deployments", Api.Json($$"""{"model": "{{model}}", "traffic": [{"version": 1, "percent": 100}], "shadow": [{"version": 2}]}""")))
            .JsonAsync(HttpStatusCode.Created);

        // Bursts of calls end together; one queue place and one worker cannot take all their copies.
        var call = Calls(model, model)[3];
        var sent = 0;
        await Maas.Testing.Conditions.ReadUntilAsync(
            async () =>
            {
                var answers = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => CallAsync(client, call)));
                Assert.All(answers, a => Assert.Equal("1", a.Version));
                sent += answers.Length;
                return await (await client.GetAsync($"api/v1/deployments/{model}")).JsonAsync(HttpStatusCode.OK);
            },
            d => (long)Metrics(d, 2)["dropped"]! > 0,
            "a copy is dropped",
            Ceiling);

        var settled = await WaitForAsync(client, model, d => (long)Metrics(d, 2)["comparisons"]! + (long)Metrics(d, 2)["dropped"]! == sent, "every copy was compared or dropped");
        Assert.Equal(sent, (long)Metrics(settled, 1)["requests"]!);
        Assert.Equal(0, (long)Metrics(settled, 1)["errors"]!);
    }

    [Fact]
    public async Task A_language_model_version_is_loaded_and_has_generated_before_a_deployment_gives_it_traffic()
    {
        var client = (await servers.GetAsync(Db.Sqlite)).Client;
        var model = await ModelAsync(client, 1, 2);

        async Task<JsonNode?> EngineAsync(int version) =>
            (await (await client.GetAsync("api/v1/llm/engines")).JsonAsync(HttpStatusCode.OK)).AsArray()
                .SingleOrDefault(e => (string?)e!["model"] == model && (int)e["version"]! == version);

        Assert.Null(await EngineAsync(1));
        await (await client.PostAsync("api/v1/deployments", Api.Json($$"""{"model": "{{model}}", "traffic": [{"version": 1, "percent": 100}]}""")))
            .JsonAsync(HttpStatusCode.Created);
        Assert.True((long)(await EngineAsync(1))!["statistics"]!["completed_requests"]! >= 1);

        // The hot swap: version 2 answers its warm-up before the split moves, so the first call finds it ready.
        Assert.Null(await EngineAsync(2));
        await (await client.PatchAsync($"api/v1/deployments/{model}", Api.Json("""{"traffic": [{"version": 2, "percent": 100}]}"""))).JsonAsync(HttpStatusCode.OK);
        var warmed = await EngineAsync(2);
        Assert.NotNull(warmed);
        Assert.Equal(1, (long)warmed["statistics"]!["completed_requests"]!);
        Assert.True((long)warmed["statistics"]!["generated_tokens"]! >= 1);
        var answer = await CallAsync(client, Calls(model, model)[0]);
        Assert.Equal("2", answer.Version);
    }
}
