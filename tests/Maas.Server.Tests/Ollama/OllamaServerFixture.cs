using System.Net;
using System.Text;
using System.Text.Json;
using Maas.Core.Formats.Gguf;
using Maas.Server.Tests.OpenAi;
using Maas.Server.Tests.Support;
using Maas.Server.Tests.Tenancy;
using Maas.Testing;

namespace Maas.Server.Tests.Ollama;

/// <summary>
/// One real server for the Ollama API tests, with keys and usage (a tenancy host) and the LLM settings of the OpenAI
/// tests: "gen" has two versions (two generated GGUFs), its alias "stable" points at version 1.
/// </summary>
public sealed class OllamaServerFixture : IAsyncLifetime
{
    /// <summary>The model the tests call.</summary>
    public const string Model = "gen";

    private readonly TempDirectory _files = new("maas-ollama-test-models");

    /// <summary>The running server.</summary>
    public TenancyHost Host { get; private set; } = null!;

    /// <summary>The generated GGUF of a version of "gen" (1 is "gen:stable").</summary>
    public string GeneratedPath(int version) => Path.Combine(_files.Path, $"gen{version}.gguf");

    /// <inheritdoc />
    public async Task InitializeAsync()
    {
        Host = await TenancyHost.StartAsync(LlmServerFixture.Settings);
        for (var version = 1; version <= 2; version++)
        {
            var path = GeneratedPath(version);
            GgufLlamaModelFactory.Write(path, new GgufLlamaModelOptions { Name = "maas-test-llm", Seed = (ulong)(6 + version) });
            await LlmServerFixture.RegisterAsync(Host.Admin, Model, await File.ReadAllBytesAsync(path), "gen.gguf");
        }

        using var alias = await Host.Admin.PutAsync($"/api/v1/models/{Model}/aliases/stable", Api.Json("""{"version": 1}"""));
        Assert.True(alias.IsSuccessStatusCode, await alias.Content.ReadAsStringAsync());
    }

    /// <inheritdoc />
    public async Task DisposeAsync()
    {
        await Host.DisposeAsync();
        _files.Dispose();
    }

    /// <summary>POSTs JSON with a client and returns the response (the caller disposes it).</summary>
    public static Task<HttpResponseMessage> PostAsync(HttpClient client, string path, string json) =>
        client.PostAsync(path, new StringContent(json, Encoding.UTF8, "application/json"));

    /// <summary>POSTs JSON with the admin key, expects 200 with one JSON object, and parses it.</summary>
    public async Task<JsonElement> PostOkAsync(string path, string json, HttpClient? client = null)
    {
        using var response = await PostAsync(client ?? Host.Admin, path, json);
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"{(int)response.StatusCode}: {body}");
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        return JsonDocument.Parse(body).RootElement.Clone();
    }

    /// <summary>Reads an NDJSON response line by line: every line one JSON object, none empty.</summary>
    public static async Task<List<JsonElement>> ReadLinesAsync(HttpResponseMessage response)
    {
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"{(int)response.StatusCode}: {text}");
        Assert.Equal("application/x-ndjson", response.Content.Headers.ContentType?.MediaType);
        Assert.EndsWith("\n", text, StringComparison.Ordinal);
        var lines = new List<JsonElement>();
        foreach (var line in text[..^1].Split('\n'))
        {
            Assert.False(string.IsNullOrWhiteSpace(line), "an empty line in the stream");
            var element = JsonDocument.Parse(line).RootElement.Clone();
            Assert.Equal(JsonValueKind.Object, element.ValueKind);
            lines.Add(element);
        }

        return lines;
    }

    /// <summary>Asserts an error in Ollama's shape, <c>{"error": "message"}</c>, with the status, and returns the message.</summary>
    public static async Task<string> ErrorAsync(HttpResponseMessage response, HttpStatusCode status)
    {
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == status, $"expected {(int)status}, got {(int)response.StatusCode}: {text}");
        var body = JsonDocument.Parse(text).RootElement;
        Assert.Equal(JsonValueKind.Object, body.ValueKind);
        Assert.Equal(JsonValueKind.String, body.GetProperty("error").ValueKind);
        Assert.Single(body.EnumerateObject());
        return body.GetProperty("error").GetString()!;
    }
}

/// <summary>The tests that share one Ollama API server.</summary>
[CollectionDefinition(Name)]
public sealed class OllamaServerCollection : ICollectionFixture<OllamaServerFixture>
{
    /// <summary>The collection's name.</summary>
    public const string Name = "ollama-server";
}
