using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using Maas.Core.Formats.Gguf;
using Maas.Core.Tenancy;
using Maas.Server.Tests.OpenAi;
using Maas.Server.Tests.Support;
using Maas.Testing;

namespace Maas.Server.Tests.Tenancy;

/// <summary>
/// A tenancy server with a shared generated LLM ("usage-llm") and a shared batchable ONNX MLP ("usage-mlp"), whose
/// "per minute" windows last three seconds so token limits reset within a test.
/// </summary>
public sealed class ServingUsageFixture : IAsyncLifetime
{
    private readonly TempDirectory _files = new("maas-usage-models");
    private TenancyHost? _host;

    public const string Llm = "usage-llm";
    public const string Mlp = "usage-mlp";

    /// <summary>The same LLM with a context long enough for generations that outlast their callers.</summary>
    public const string LongLlm = "usage-llm-long";

    public TenancyHost Host => _host ?? throw new InvalidOperationException("not started");

    public async Task InitializeAsync()
    {
        var settings = new Dictionary<string, string?>(LlmServerFixture.Settings) { ["Maas:Limits:WindowSeconds"] = "3" };
        _host = await TenancyHost.StartAsync(settings);
        var admin = _host.Admin;
        var gguf = Path.Combine(_files.Path, "gen.gguf");
        GgufLlamaModelFactory.Write(gguf, new GgufLlamaModelOptions { Name = "maas-usage-llm", Seed = 11 });
        await admin.CreateModelAsync(Llm, """, "task": "text-generation", "visibility": "shared" """);
        await admin.UploadAsync(Llm, await File.ReadAllBytesAsync(gguf), "gen.gguf");
        await admin.CreateModelAsync(LongLlm, """, "task": "text-generation", "visibility": "shared" """);
        using (var configured = await admin.PutAsJsonAsync($"api/v1/models/{LongLlm}/config", new { parallel_sequences = 1, context_size = 4200 }))
        {
            Assert.True(configured.IsSuccessStatusCode, await configured.Content.ReadAsStringAsync());
        }

        await admin.UploadAsync(LongLlm, await File.ReadAllBytesAsync(gguf), "gen.gguf");
        await admin.CreateModelAsync(Mlp, """, "visibility": "shared" """);
        await admin.UploadAsync(Mlp, TestArtifacts.Onnx(seed: 5), "mlp.onnx");
    }

    public async Task DisposeAsync()
    {
        if (_host is not null)
        {
            await _host.DisposeAsync();
        }

        _files.Dispose();
    }
}

/// <summary>What serving calls put in the usage records and how LLM token limits and budgets hold, over the real APIs.</summary>
public sealed class ServingUsageTests(ServingUsageFixture fixture) : IClassFixture<ServingUsageFixture>
{
    private TenancyHost Host => fixture.Host;

    private static StringContent Chat(int maxTokens, bool stream = false, string text = "Say something", string model = ServingUsageFixture.Llm) =>
        new(new JsonObject
        {
            ["model"] = model,
            ["messages"] = new JsonArray(new JsonObject { ["role"] = "user", ["content"] = text }),
            ["max_tokens"] = maxTokens,
            ["temperature"] = 0,
            ["ignore_eos"] = true,
            ["stream"] = stream,
        }.ToJsonString(), Encoding.UTF8, "application/json");

    [Fact]
    public async Task Chat_completions_meter_the_tokens_the_response_reports()
    {
        var (_, keyId, client) = await Host.TenantWithKeyAsync(MaasScopes.Infer);
        long prompt = 0, completion = 0;
        for (var i = 0; i < 2; i++)
        {
            using var response = await client.PostAsync("v1/chat/completions", Chat(maxTokens: 5 + i));
            var body = await response.JsonAsync(HttpStatusCode.OK);
            prompt += (long)body["usage"]!["prompt_tokens"]!;
            completion += (long)body["usage"]!["completion_tokens"]!;
        }

        Assert.Equal(11, completion);
        // The shared model is the default tenant's: the caller's usage names it by its qualified name.
        var totals = await Host.UsageTotalsAsync($"key={keyId}&model=default/{ServingUsageFixture.Llm}");
        Assert.Equal(2, (long?)totals["requests"]);
        Assert.Equal(prompt, (long?)totals["prompt_tokens"]);
        Assert.Equal(completion, (long?)totals["completion_tokens"]);
        Assert.Equal(prompt + completion, (long?)totals["total_tokens"]);
    }

    [Fact]
    public async Task A_stream_the_caller_abandons_is_still_billed_for_the_tokens_generated_for_it()
    {
        var (_, keyId, client) = await Host.TenantWithKeyAsync(MaasScopes.Infer);
        var received = 0;
        using (var request = new HttpRequestMessage(HttpMethod.Post, "v1/chat/completions") { Content = Chat(maxTokens: 4000, stream: true, model: ServingUsageFixture.LongLlm) })
        using (var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
            while (received < 5 && await reader.ReadLineAsync() is { } line)
            {
                if (line.StartsWith("data: {", StringComparison.Ordinal) && line.Contains("\"content\"", StringComparison.Ordinal))
                {
                    received++;
                }
            }
        }

        // The connection is gone after 5 content chunks of 4000 possible tokens; the record lands when the server notices.
        Assert.Equal(5, received);
        var totals = await Conditions.ReadUntilAsync(() => Host.UsageTotalsAsync($"key={keyId}"), t => (long?)t["requests"] != 0, "the abandoned stream is recorded");

        Assert.Equal(1, (long?)totals["requests"]);
        var completion = (long)totals["completion_tokens"]!;
        Assert.InRange(completion, received, 3999);
        Assert.True((long)totals["prompt_tokens"]! > 0);
    }

    [Fact]
    public async Task A_keys_tokens_per_minute_limit_refuses_with_the_limit_and_resets()
    {
        var tenant = await Host.CreateTenantAsync();
        var (_, secret) = await Host.CreateKeyAsync(tenant, [MaasScopes.Infer], limits: """{"tokens_per_minute": 40}""");
        using var client = Host.Client(secret);
        using var held = Host.HoldAtFreshWindow(3000);

        // The first call uses its prompt plus 30 generated tokens, which crosses 40: the next is refused.
        using (var first = await client.PostAsync("v1/chat/completions", Chat(maxTokens: 30)))
        {
            await first.JsonAsync(HttpStatusCode.OK);
            Assert.Equal("40", first.Headers.GetValues("x-ratelimit-limit-tokens").Single());
            Assert.Equal("40", first.Headers.GetValues("x-ratelimit-remaining-tokens").Single());
        }

        using var refused = await client.PostAsync("v1/chat/completions", Chat(maxTokens: 30));
        var error = await refused.ErrorAsync(HttpStatusCode.TooManyRequests, "rate_limit_exceeded");
        Assert.Equal("tokens_per_minute", (string?)error["limit"]);
        Assert.Equal("tokens", (string?)error["type"]); // OpenAI's type for its tokens-per-minute limits
        Assert.Equal(40, (int?)error["value"]);
        Assert.Equal("0", refused.Headers.GetValues("x-ratelimit-remaining-tokens").Single());
        var retryAfter = refused.Headers.RetryAfter?.Delta ?? throw new InvalidOperationException("no Retry-After");
        Assert.InRange(retryAfter.TotalSeconds, 1, 3);

        Host.Clock.Advance(retryAfter);
        using var again = await client.PostAsync("v1/chat/completions", Chat(maxTokens: 3));
        await again.JsonAsync(HttpStatusCode.OK);
    }

    [Fact]
    public async Task A_tenants_daily_token_budget_stops_its_keys_once_spent()
    {
        var tenant = await Host.CreateTenantAsync(limits: """{"daily_tokens": 50}""");
        var (_, secret) = await Host.CreateKeyAsync(tenant, [MaasScopes.Infer]);
        using var client = Host.Client(secret);
        using (var first = await client.PostAsync("v1/chat/completions", Chat(maxTokens: 60)))
        {
            await first.JsonAsync(HttpStatusCode.OK);
        }

        using var refused = await client.PostAsync("v1/chat/completions", Chat(maxTokens: 1));
        var error = await refused.ErrorAsync(HttpStatusCode.TooManyRequests, "quota_exceeded");
        Assert.Equal("daily_tokens", (string?)error["limit"]);
        Assert.Equal("insufficient_quota", (string?)error["type"]); // OpenAI's type for a spent quota
        Assert.Equal("tenant", (string?)error["scope"]);
        Assert.Equal(50, (int?)error["value"]);
        Assert.NotNull(error["reset_at"]);
        Assert.Equal(["false"], refused.Headers.GetValues("x-should-retry")); // OpenAI's clients would retry a 429 twice

        // A second key of the same tenant shares the budget.
        var (_, other) = await Host.CreateKeyAsync(tenant, [MaasScopes.Infer]);
        using var otherClient = Host.Client(other);
        using var alsoRefused = await otherClient.PostAsync("v1/chat/completions", Chat(maxTokens: 1));
        await alsoRefused.ErrorAsync(HttpStatusCode.TooManyRequests, "quota_exceeded");
    }

    [Fact]
    public async Task Onnx_inference_meters_batch_rows_and_engine_time()
    {
        var (_, keyId, client) = await Host.TenantWithKeyAsync(MaasScopes.Infer);
        for (var rows = 1; rows <= 3; rows++)
        {
            var data = new JsonArray(Enumerable.Range(0, rows * 4).Select(i => (JsonNode)(i * 0.1)).ToArray());
            var body = new JsonObject
            {
                ["inputs"] = new JsonArray(new JsonObject { ["name"] = "input", ["datatype"] = "FP32", ["shape"] = new JsonArray(rows, 4), ["data"] = data }),
            };
            using var response = await client.PostAsJsonAsync($"v2/models/{ServingUsageFixture.Mlp}/infer", body);
            await response.JsonAsync(HttpStatusCode.OK);
        }

        using (var predict = await client.PostAsync($"api/v1/models/{ServingUsageFixture.Mlp}/predict", Api.Json("""{"inputs": {"input": [[1, 2, 3, 4], [5, 6, 7, 8]]}}""")))
        {
            await predict.JsonAsync(HttpStatusCode.OK);
        }

        using var usage = await Host.Admin.GetAsync($"api/v1/usage?key={keyId}");
        var row = Assert.Single((await usage.JsonAsync(HttpStatusCode.OK))["rows"]!.AsArray())!;
        Assert.Equal(4, (long?)row["requests"]);
        Assert.Equal(1 + 2 + 3 + 2, (long?)row["batch_items"]);
        var compute = (double)row["compute_ms"]!;
        var latency = (double)row["avg_latency_ms"]! * 4;

        // Engine time, not wall time: positive, and less than the requests took end to end.
        Assert.True(compute > 0 && compute < latency, $"compute {compute} ms, latency {latency} ms");
    }
}
