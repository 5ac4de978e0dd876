using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using Maas.Core.Llm;
using Maas.Server.OpenAi;
using Maas.Server.OpenAi.Demo;
using Maas.Server.Tests.Support;
using Maas.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace Maas.Server.Tests.OpenAi;

/// <summary>
/// The line in front of a model's embedder (Maas:Llm:EmbeddingQueueLimit, EmbeddingQueueTimeoutMs): bounded, timed,
/// and left by callers that hang up.
/// </summary>
public sealed class EmbeddingQueueTests
{
    private const string Body = $$"""{"model":"{{LlmDemoModel.Name}}","input":["the cat sat","on the mat"]}""";

    [Fact]
    public async Task A_full_line_answers_429_naming_its_limit_and_a_caller_that_hangs_up_leaves_it()
    {
        await using var server = await StartAsync(limit: 1, timeoutMs: 600_000);
        using var turn = await HoldEmbedderAsync(server);

        // One request waits behind the held embedder: the line (of 1) is full.
        using var hangUp = new CancellationTokenSource();
        var waiting = PostAsync(server, hangUp.Token);
        await WaitForLineAsync(server, waiting: 1);

        using (var refused = await server.Client.PostAsync("/v1/embeddings", Json(Body)))
        {
            Assert.Equal(HttpStatusCode.TooManyRequests, refused.StatusCode);
            Assert.NotNull(refused.Headers.RetryAfter);
            var error = JsonDocument.Parse(await refused.Content.ReadAsStringAsync()).RootElement.GetProperty("error");
            Assert.Equal("requests", error.GetProperty("type").GetString()); // OpenAI's type for a limit on requests
            Assert.Equal("queue_full", error.GetProperty("code").GetString());
            Assert.Contains("(1: the model's embedding_queue_limit, else Maas:Llm:EmbeddingQueueLimit)", error.GetProperty("message").GetString(), StringComparison.Ordinal);
        }

        // The waiting caller hangs up: it leaves the line, and the next request takes its place instead of a 429.
        await hangUp.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => waiting);
        await WaitForLineAsync(server, waiting: 0);
        var next = PostAsync(server, CancellationToken.None);
        await WaitForLineAsync(server, waiting: 1);

        // Once the embedder is free the waiting request is served.
        turn.Dispose();
        using var served = await next;
        Assert.True(served.StatusCode == HttpStatusCode.OK, await served.Content.ReadAsStringAsync());
        Assert.Equal(2, JsonDocument.Parse(await served.Content.ReadAsStringAsync()).RootElement.GetProperty("data").GetArrayLength());
    }

    [Fact]
    public async Task A_request_that_waits_past_the_timeout_gets_504_naming_it()
    {
        const int TimeoutMs = 400;
        await using var server = await StartAsync(limit: 4, timeoutMs: TimeoutMs);
        using (await HoldEmbedderAsync(server))
        {
            var started = Stopwatch.StartNew();
            using var timedOut = await PostAsync(server, CancellationToken.None);
            var waited = started.Elapsed;
            var text = await timedOut.Content.ReadAsStringAsync();
            Assert.True(timedOut.StatusCode == HttpStatusCode.GatewayTimeout, $"{(int)timedOut.StatusCode}: {text}");
            Assert.NotNull(timedOut.Headers.RetryAfter);
            var error = JsonDocument.Parse(text).RootElement.GetProperty("error");
            Assert.Equal("queue_timeout", error.GetProperty("code").GetString());
            Assert.Contains($"({TimeoutMs} ms: the model's embedding_queue_timeout_ms, else Maas:Llm:EmbeddingQueueTimeoutMs)", error.GetProperty("message").GetString(),
                StringComparison.Ordinal);
            // A lower bound only (a timer may round a little): the refusal came from the timeout, not at once.
            Assert.True(waited >= TimeSpan.FromMilliseconds(TimeoutMs * 0.9), $"answered after {waited.TotalMilliseconds:0} ms, before the timeout");
            await WaitForLineAsync(server, waiting: 0);
        }

        // The line is empty again and the embedder free: the same request is served.
        using var served = await PostAsync(server, CancellationToken.None);
        Assert.Equal(HttpStatusCode.OK, served.StatusCode);
    }

    [Fact]
    public async Task A_models_own_embedding_queue_settings_override_the_servers()
    {
        // The server's line would hold 16 for a minute; the model's serving configuration holds 1 for 300 ms.
        await using var server = await StartAsync(limit: 16, timeoutMs: 60_000);
        using (var configured = await server.Client.PutAsync(
            $"/api/v1/models/{LlmDemoModel.Name}/config", Json("""{"embedding_queue_limit": 1, "embedding_queue_timeout_ms": 300}""")))
        {
            Assert.True(configured.StatusCode == HttpStatusCode.OK, await configured.Content.ReadAsStringAsync());
        }

        // The engine is loaded again with its new settings on its next request; its line shows them.
        using (var first = await PostAsync(server, CancellationToken.None))
        {
            Assert.True(first.StatusCode == HttpStatusCode.OK, await first.Content.ReadAsStringAsync());
        }

        await Conditions.WaitUntilAsync(async () => (await LineAsync(server)).GetProperty("limit").GetInt32() == 1, "the engine's line holds the model's limit");
        Assert.Equal(300, (await LineAsync(server)).GetProperty("timeout_ms").GetInt64());

        using (await HoldEmbedderAsync(server))
        {
            // One waits (and times out at the model's 300 ms, not the server's minute); the next finds the line full.
            var waiting = PostAsync(server, CancellationToken.None);
            await WaitForLineAsync(server, waiting: 1);
            using (var refused = await PostAsync(server, CancellationToken.None))
            {
                Assert.Equal(HttpStatusCode.TooManyRequests, refused.StatusCode);
                var error = JsonDocument.Parse(await refused.Content.ReadAsStringAsync()).RootElement.GetProperty("error");
                Assert.Contains("(1: the model's embedding_queue_limit", error.GetProperty("message").GetString(), StringComparison.Ordinal);
            }

            using var timedOut = await waiting;
            Assert.Equal(HttpStatusCode.GatewayTimeout, timedOut.StatusCode);
            Assert.Contains("(300 ms: the model's embedding_queue_timeout_ms", await timedOut.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }
    }

    private static async Task<MaasTestServer> StartAsync(int limit, int timeoutMs)
    {
        var server = await MaasTestServer.StartAsync(settings: new Dictionary<string, string?>
        {
            ["Maas:Llm:Demo"] = "true",
            ["Maas:Llm:ContextPerSlot"] = "256",
            ["Maas:Llm:Threads"] = "1",
            ["Maas:Llm:EmbeddingQueueLimit"] = limit.ToString(CultureInfo.InvariantCulture),
            ["Maas:Llm:EmbeddingQueueTimeoutMs"] = timeoutMs.ToString(CultureInfo.InvariantCulture),
        });
        try
        {
            // A first request loads the model; its engine's line then shows its settings.
            using var first = await PostAsync(server, CancellationToken.None);
            Assert.True(first.StatusCode == HttpStatusCode.OK, await first.Content.ReadAsStringAsync());
            var line = await LineAsync(server);
            Assert.Equal(limit, line.GetProperty("limit").GetInt32());
            Assert.Equal(timeoutMs, line.GetProperty("timeout_ms").GetInt64());
            return server;
        }
        catch
        {
            await server.DisposeAsync();
            throw;
        }
    }

    // Takes the embedder's turn the way a running request does, for as long as the test needs it busy.
    private static async Task<IDisposable> HoldEmbedderAsync(MaasTestServer server)
    {
        var loaded = server.Services.GetRequiredService<LlmEngineManager>().Loaded().Single();
        var turn = await server.Services.GetRequiredService<EmbeddingQueues>().For(loaded.Engine, loaded.Spec).EnterAsync(LlmDemoModel.Name, CancellationToken.None);
        Assert.Equal(1, (await LineAsync(server)).GetProperty("running").GetInt32());
        return turn;
    }

    private static async Task WaitForLineAsync(MaasTestServer server, int waiting) =>
        await Conditions.WaitUntilAsync(
            async () => (await LineAsync(server)).GetProperty("waiting").GetInt32() == waiting,
            $"{waiting} embeddings requests waiting");

    private static async Task<JsonElement> LineAsync(MaasTestServer server)
    {
        using var engines = JsonDocument.Parse(await server.Client.GetStringAsync("/api/v1/llm/engines"));
        return engines.RootElement.EnumerateArray().Single().GetProperty("embedding_queue").Clone();
    }

    private static Task<HttpResponseMessage> PostAsync(MaasTestServer server, CancellationToken cancellationToken) =>
        server.Client.PostAsync("/v1/embeddings", Json(Body), cancellationToken);

    private static StringContent Json(string json) => new(json, Encoding.UTF8, "application/json");
}
