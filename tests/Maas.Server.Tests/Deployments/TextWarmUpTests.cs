using System.Globalization;
using System.Net;
using System.Text.Json.Nodes;
using Maas.Core.Formats.Gguf;
using Maas.Server.Tests.ModelHosting;
using Maas.Server.Tests.Support;

namespace Maas.Server.Tests.Deployments;

/// <summary>Deployment servers with a memory budget of 1 MiB: room for the tests' tiny language model's file, not for a larger one.</summary>
public sealed class SmallBudgetServers : ServerPerDb
{
    /// <summary>The budget (Maas:Hosting:MemoryBudgetBytes).</summary>
    public const long Budget = 1 << 20;

    /// <inheritdoc />
    protected override IReadOnlyDictionary<string, string?> Settings { get; } = new Dictionary<string, string?>(DeploymentServers.Fast)
    {
        ["Maas:Hosting:MemoryBudgetBytes"] = Budget.ToString(CultureInfo.InvariantCulture),
    };
}

/// <summary>
/// A language model version whose warm-up fails (it cannot be loaded, or does not fit the memory budget) is refused with
/// 409 warm_up_failed by every change that would give it traffic, and the deployment, its history and where calls go
/// stay as they were.
/// </summary>
public sealed class TextWarmUpTests(SmallBudgetServers servers) : IClassFixture<SmallBudgetServers>
{
    // A GGUF that passes the upload's checks (llama architecture, a well-formed tensor) but that llama.cpp cannot load:
    // none of the llama hyperparameters or tensors are there.
    private static async Task<byte[]> UnloadableGgufAsync()
    {
        using var bytes = new MemoryStream();
        await new GeneratedGgufStream(64 * 1024).CopyToAsync(bytes);
        return bytes.ToArray();
    }

    // A loadable model whose file alone is larger than the budget.
    private static byte[] LargeGguf()
    {
        using var buffer = new MemoryStream();
        GgufLlamaModelFactory.Write(buffer, new GgufLlamaModelOptions
        {
            EmbeddingLength = 64,
            BlockCount = 1,
            HeadCount = 2,
            KeyValueHeadCount = 2,
            FeedForwardLength = 64,
            ContextLength = 256,
            VocabularySize = 4096
        });
        return buffer.ToArray();
    }

    private static async Task<string?> AnsweringVersionAsync(HttpClient client, string model)
    {
        using var response = await client.PostAsync("v1/chat/completions",
            Api.Json($$"""{"model": "{{model}}", "max_tokens": 2, "messages": [{"role": "user", "content": "hi"}]}"""));
        await response.JsonAsync(HttpStatusCode.OK);
        return response.Headers.GetValues("X-Maas-Model-Version").Single();
    }

    private static async Task<JsonNode> RefusedAsync(HttpResponseMessage response, string version)
    {
        var error = await response.ErrorAsync(HttpStatusCode.Conflict, "warm_up_failed");
        var message = (string)error["message"]!;
        Assert.Contains($"version {version} did not load and answer", message, StringComparison.Ordinal);
        Assert.Contains("the deployment is unchanged", message, StringComparison.Ordinal);
        return error;
    }

    // Every way to give the version traffic is refused; the deployment keeps its revision, split and history.
    private static async Task AssertUnchangedAfterRefusalsAsync(HttpClient client, string model, string bad)
    {
        var before = await (await client.GetAsync($"api/v1/deployments/{model}")).JsonAsync(HttpStatusCode.OK);
        await RefusedAsync(await client.PatchAsync($"api/v1/deployments/{model}",
            Api.Json($$"""{"traffic": [{"version": 1, "percent": 90}, {"version": {{bad}}, "percent": 10}]}""")), bad);
        await RefusedAsync(await client.PatchAsync($"api/v1/deployments/{model}", Api.Json($$"""{"traffic": [{"version": {{bad}}, "percent": 100}]}""")), bad);
        await RefusedAsync(await client.PatchAsync($"api/v1/deployments/{model}", Api.Json($$"""{"shadow": [{"version": {{bad}}}]}""")), bad);
        var after = await (await client.GetAsync($"api/v1/deployments/{model}")).JsonAsync(HttpStatusCode.OK);
        Assert.Equal((long)before["revision"]!, (long)after["revision"]!);
        Assert.Equal("""[{"version":1,"percent":100}]""", after["traffic"]!.ToJsonString());
        Assert.Equal("[]", after["shadow"]!.ToJsonString());
        var history = (await (await client.GetAsync($"api/v1/deployments/{model}/history")).JsonAsync(HttpStatusCode.OK))["history"]!.AsArray();
        Assert.Equal(new[] { "create" }, history.Select(h => (string)h!["action"]!));
        Assert.Equal("1", await AnsweringVersionAsync(client, model));
    }

    [Fact]
    public async Task A_language_model_version_that_cannot_be_loaded_is_refused_and_traffic_stays_where_it_was()
    {
        var client = (await servers.GetAsync(Db.Sqlite)).Client;
        var model = await client.CreateModelAsync();
        await client.UploadAsync(model, TestArtifacts.Gguf(1), "good.gguf");
        await client.UploadAsync(model, await UnloadableGgufAsync(), "broken.gguf");

        // A deployment that would start on it is not created at all.
        var error = await RefusedAsync(await client.PostAsync("api/v1/deployments", Api.Json($$"""{"model": "{{model}}", "traffic": [{"version": 2, "percent": 100}]}""")), "2");
        Assert.Contains("could not be loaded", (string)error["message"]!, StringComparison.Ordinal);
        await (await client.GetAsync($"api/v1/deployments/{model}")).ErrorAsync(HttpStatusCode.NotFound, "deployment_not_found");

        await (await client.PostAsync("api/v1/deployments",
            Api.Json($$"""{"model": "{{model}}", "traffic": [{"version": 1, "percent": 100}]}"""))).JsonAsync(HttpStatusCode.Created);
        await AssertUnchangedAfterRefusalsAsync(client, model, "2");
    }

    [Fact]
    public async Task A_language_model_version_larger_than_the_memory_budget_is_refused_naming_the_budget_and_evicts_nothing()
    {
        var client = (await servers.GetAsync(Db.Sqlite)).Client;
        var small = TestArtifacts.Gguf(1);
        var large = LargeGguf();
        Assert.True(small.Length < SmallBudgetServers.Budget && large.Length > SmallBudgetServers.Budget, $"model files of {small.Length} and {large.Length} bytes");
        var model = await client.CreateModelAsync();
        await client.UploadAsync(model, small, "small.gguf");
        await client.UploadAsync(model, large, "large.gguf");
        await (await client.PostAsync("api/v1/deployments",
            Api.Json($$"""{"model": "{{model}}", "traffic": [{"version": 1, "percent": 100}]}"""))).JsonAsync(HttpStatusCode.Created);
        var evictions = (await Placement.LoadedAsync(client)).GetProperty("evictions").GetInt64();

        var error = await RefusedAsync(await client.PatchAsync($"api/v1/deployments/{model}", Api.Json("""{"traffic": [{"version": 2, "percent": 100}]}""")), "2");
        var message = (string)error["message"]!;
        Assert.Contains("Maas:Hosting:MemoryBudgetBytes", message, StringComparison.Ordinal);
        Assert.Contains(SmallBudgetServers.Budget.ToString(CultureInfo.InvariantCulture), message, StringComparison.Ordinal);
        await AssertUnchangedAfterRefusalsAsync(client, model, "2");

        // The stable version was not evicted to try: it is still loaded and nothing was evicted meanwhile.
        var loaded = await Placement.LoadedAsync(client);
        Assert.Equal("ready", StateOf(loaded, model, 1));
        Assert.Null(StateOf(loaded, model, 2));
        Assert.Equal(evictions, loaded.GetProperty("evictions").GetInt64());
    }

    private static string? StateOf(System.Text.Json.JsonElement loaded, string model, int version) =>
        loaded.GetProperty("models").EnumerateArray()
            .Where(m => m.GetProperty("model").GetString() == model && m.GetProperty("version").GetInt32() == version)
            .Select(m => m.GetProperty("state").GetString())
            .SingleOrDefault();
}
