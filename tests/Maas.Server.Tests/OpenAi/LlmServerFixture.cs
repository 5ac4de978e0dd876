using System.ClientModel;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Maas.Core.Formats.Gguf;
using Maas.Server.Tests.Support;
using Maas.Testing;
using Microsoft.Extensions.DependencyInjection;
using OpenAI;

namespace Maas.Server.Tests.OpenAi;

/// <summary>
/// One real server for the OpenAI tests (small slots and contexts so they stay fast) with the shared tiny Llama-2
/// registered as "tiny" and a model the tests generate ("gen", ChatML template, synthetic vocabulary).
/// </summary>
public sealed class LlmServerFixture : IAsyncLifetime
{
    /// <summary>The shared model every test reads.</summary>
    public const string TinyFile = "llama-2-tiny-random.gguf";

    /// <summary>The generated model with two slots of a long context: requests that outlast their clients.</summary>
    public const string LongModel = "gen-long";

    /// <summary>The long model's context per sequence (tokens).</summary>
    public const int LongContextPerSequence = 32768;

    private readonly TempDirectory _files = new("maas-llm-test-models");

    /// <summary>The running server.</summary>
    public MaasTestServer Server { get; private set; } = null!;

    /// <summary>The generated GGUF's path.</summary>
    public string GeneratedPath => Path.Combine(_files.Path, "gen.gguf");

    /// <summary>The server's clock (keep-alives): the system's until a test moves it.</summary>
    public AdjustableClock Clock { get; } = new();

    /// <summary>An official OpenAI client pointed at the server.</summary>
    public OpenAIClient OpenAi { get; private set; } = null!;

    /// <summary>The settings the server runs with.</summary>
    public static Dictionary<string, string?> Settings => new()
    {
        ["Maas:Llm:Demo"] = "false",
        ["Maas:Llm:Slots"] = "4",
        ["Maas:Llm:ContextPerSlot"] = "512",
        ["Maas:Llm:MaxTokensPerRequest"] = "32768", // the long model's streams (LongContextPerSequence)
        ["Maas:Llm:BatchSize"] = "256",
        ["Maas:Llm:Threads"] = "1", // tiny models gain nothing from more, and one thread never waits on a descheduled sibling
    };

    /// <inheritdoc />
    public async Task InitializeAsync()
    {
        Server = await MaasTestServer.StartAsync(settings: Settings, configure: builder => builder.Services.AddSingleton<TimeProvider>(Clock));
        OpenAi = ClientFor(Server);
        GgufLlamaModelFactory.Write(GeneratedPath, new GgufLlamaModelOptions { Name = "maas-test-llm", Seed = 7 });
        await RegisterAsync(Server.Client, "gen", await File.ReadAllBytesAsync(GeneratedPath), "gen.gguf");
        // Its own file with a long trained context, so a sequence can run for tens of thousands of tokens.
        var longPath = Path.Combine(_files.Path, "gen-long.gguf");
        GgufLlamaModelFactory.Write(longPath, new GgufLlamaModelOptions { Name = "maas-test-llm-long", Seed = 7, ContextLength = LongContextPerSequence });
        await RegisterAsync(Server.Client, LongModel, await File.ReadAllBytesAsync(longPath), "gen-long.gguf",
            new { parallel_sequences = 2, context_size = LongContextPerSequence });
        if (SharedModels.Has(TinyFile))
        {
            await RegisterAsync(Server.Client, "tiny", await File.ReadAllBytesAsync(SharedModels.PathOf(TinyFile)), TinyFile);
        }
    }

    /// <inheritdoc />
    public async Task DisposeAsync()
    {
        await Server.DisposeAsync();
        _files.Dispose();
    }

    /// <summary>An OpenAI client for a server, with the test admin key.</summary>
    public static OpenAIClient ClientFor(MaasTestServer server) =>
        new(new ApiKeyCredential(MaasTestServer.AdminKey), new OpenAIClientOptions { Endpoint = new Uri(server.BaseAddress, "v1/"), NetworkTimeout = TimeSpan.FromMinutes(2) });

    /// <summary>Creates a model (with an optional serving config) and uploads a GGUF as its next version.</summary>
    public static async Task RegisterAsync(HttpClient client, string name, byte[] gguf, string fileName, object? config = null)
    {
        using var created = await client.PostAsJsonAsync("/api/v1/models", new { name, task = "text-generation" });
        Assert.True(created.IsSuccessStatusCode || created.StatusCode == HttpStatusCode.Conflict, await created.Content.ReadAsStringAsync());
        if (config is not null)
        {
            using var configured = await client.PutAsJsonAsync($"/api/v1/models/{name}/config", config);
            Assert.True(configured.IsSuccessStatusCode, await configured.Content.ReadAsStringAsync());
        }

        using var uploaded = await client.PostAsync($"/api/v1/models/{name}/versions", MaasTestServer.Artifact(gguf, fileName));
        Assert.True(uploaded.IsSuccessStatusCode, await uploaded.Content.ReadAsStringAsync());
    }

    /// <summary>POSTs JSON and returns the status and body text.</summary>
    public async Task<(HttpStatusCode Status, string Body)> PostAsync(string path, string json, CancellationToken cancellationToken = default)
    {
        using var response = await Server.Client.PostAsync(path, new StringContent(json, Encoding.UTF8, "application/json"), cancellationToken);
        return (response.StatusCode, await response.Content.ReadAsStringAsync(cancellationToken));
    }

    /// <summary>POSTs JSON, expects 200 and parses the body.</summary>
    public async Task<JsonElement> PostOkAsync(string path, string json)
    {
        var (status, body) = await PostAsync(path, json);
        Assert.True(status == HttpStatusCode.OK, $"{(int)status}: {body}");
        return JsonDocument.Parse(body).RootElement.Clone();
    }

    /// <summary>The statistics of a loaded engine from GET /api/v1/llm/engines.</summary>
    public async Task<JsonElement> EngineStatisticsAsync(string model)
    {
        var engines = JsonDocument.Parse(await Server.Client.GetStringAsync("/api/v1/llm/engines")).RootElement;
        foreach (var engine in engines.EnumerateArray())
        {
            if (engine.GetProperty("model").GetString() == model)
            {
                return engine.GetProperty("statistics").Clone();
            }
        }

        throw new InvalidOperationException($"{model} is not loaded: {engines}");
    }

    /// <summary>Reads an SSE response into its data payloads (without the final [DONE], which it checks).</summary>
    public static async Task<List<JsonElement>> ReadEventsAsync(HttpResponseMessage response)
    {
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        var events = new List<JsonElement>();
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
        var done = false;
        while (await reader.ReadLineAsync() is { } line)
        {
            if (line.Length == 0)
            {
                continue;
            }

            Assert.StartsWith("data: ", line, StringComparison.Ordinal);
            Assert.False(done, "data after [DONE]");
            if (line == "data: [DONE]")
            {
                done = true;
                continue;
            }

            events.Add(JsonDocument.Parse(line[6..]).RootElement.Clone());
        }

        Assert.True(done, "the stream did not end with data: [DONE]");
        return events;
    }
}

/// <summary>The tests that share one LLM server.</summary>
[CollectionDefinition(Name)]
public sealed class LlmServerCollection : ICollectionFixture<LlmServerFixture>
{
    /// <summary>The collection's name.</summary>
    public const string Name = "llm-server";
}
