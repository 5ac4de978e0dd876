using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Maas.Server.Tests.Support;
using Maas.Server.Tests.TensorInference;
using static Maas.Server.Tests.ModelHosting.Placement;

namespace Maas.Server.Tests.ModelHosting;

/// <summary>Explicit model control (<c>:load</c>, <c>:unload</c>) with its scope checks, and pinning through the serving configuration.</summary>
public sealed class ModelControlTests
{
    [Fact]
    public async Task An_operator_loads_and_unloads_a_version_and_an_unloaded_version_refuses_requests_until_loaded_again()
    {
        await using var server = await MaasTestServer.StartAsync();
        var client = server.Client;
        await RegisterAsync(client, "m", TestModels.Mlp(4, [8], 3));

        var (status, loaded, _) = await client.PostJsonAsync("/api/v1/loaded-models/m/versions/1:load", "");
        Assert.True(status == HttpStatusCode.OK, loaded.ToString());
        Assert.Equal(("m", 1, "ready"), (loaded.GetProperty("model").GetString(), loaded.GetProperty("version").GetInt32(), loaded.GetProperty("state").GetString()));
        Assert.True(loaded.GetProperty("memory").GetProperty("accounted_bytes").GetInt64() > 0, loaded.ToString());
        Assert.Equal("ready", Entry(await LoadedAsync(client), "m")!.Value.GetProperty("state").GetString());

        var (unloadStatus, unloaded, _) = await client.PostJsonAsync("/api/v1/loaded-models/m/versions/1:unload", "");
        Assert.Equal(HttpStatusCode.OK, unloadStatus);
        Assert.Equal(("unavailable", "unloaded"), (unloaded.GetProperty("state").GetString(), unloaded.GetProperty("reason").GetString()));
        Assert.Null(Entry(await LoadedAsync(client), "m"));
        var refused = await InferAsync(client, "m");
        Assert.True(refused.Status == HttpStatusCode.ServiceUnavailable, refused.Body.ToString());

        Assert.Equal(HttpStatusCode.OK, (await client.PostJsonAsync("/api/v1/loaded-models/m/versions/1:load", "")).Status);
        Assert.Equal(HttpStatusCode.OK, (await InferAsync(client, "m")).Status);

        Assert.Equal((HttpStatusCode.NotFound, "version_not_found"), await ErrorAsync(client, "/api/v1/loaded-models/m/versions/9:load"));
        Assert.Equal((HttpStatusCode.BadRequest, "invalid_version"), await ErrorAsync(client, "/api/v1/loaded-models/m/versions/x:unload"));
        Assert.Equal((HttpStatusCode.NotFound, "model_not_found"), await ErrorAsync(client, "/api/v1/loaded-models/nope/versions/1:load"));
    }

    [Fact]
    public async Task An_llm_version_is_loaded_and_unloaded_explicitly_like_a_tensor_model()
    {
        using var files = new TempDirectory("maas-llm-control");
        await using var server = await MaasTestServer.StartAsync(settings: new Dictionary<string, string?>(OpenAi.LlmServerFixture.Settings) { ["Maas:Inference:GrpcUrl"] = "" });
        var gguf = Path.Combine(files.Path, "words.gguf");
        Maas.Core.Formats.Gguf.GgufLlamaModelFactory.Write(gguf, new Maas.Core.Formats.Gguf.GgufLlamaModelOptions { Name = "maas-test-llm", Seed = 7 });
        await OpenAi.LlmServerFixture.RegisterAsync(server.Client, "words", await File.ReadAllBytesAsync(gguf), "words.gguf");
        const string completion = """{"model":"words","prompt":"x","max_tokens":1}""";

        var (status, loaded, _) = await server.Client.PostJsonAsync("/api/v1/loaded-models/words/versions/1:load", "");
        Assert.True(status == HttpStatusCode.OK, loaded.ToString());
        Assert.Equal(("llama.cpp", "ready"), (loaded.GetProperty("engine").GetString(), loaded.GetProperty("state").GetString()));

        Assert.Equal(HttpStatusCode.OK, (await server.Client.PostJsonAsync("/api/v1/loaded-models/words/versions/1:unload", "")).Status);
        var refused = await server.Client.PostJsonAsync("/v1/completions", completion);
        Assert.True(refused.Status == HttpStatusCode.ServiceUnavailable, refused.Body.ToString());

        Assert.Equal(HttpStatusCode.OK, (await server.Client.PostJsonAsync("/api/v1/loaded-models/words/versions/1:load", "")).Status);
        Assert.Equal(HttpStatusCode.OK, (await server.Client.PostJsonAsync("/v1/completions", completion)).Status);
    }

    [Fact]
    public async Task Only_an_admin_or_the_owner_with_models_write_controls_a_model()
    {
        await using var server = await MaasTestServer.StartAsync();
        var admin = server.Client;
        await RegisterAsync(admin, "house", TestModels.Mlp(4, [8], 3));
        (await admin.PostAsJsonAsync("/api/v1/tenants", new { name = "acme" })).EnsureSuccessStatusCode();
        using var writer = server.CreateClient(await KeyAsync(admin, "acme", "models:write"));
        using var reader = server.CreateClient(await KeyAsync(admin, "acme", "models:read"));
        await RegisterAsync(writer, "own", TestModels.Mlp(4, [8], 3));

        Assert.Equal(HttpStatusCode.OK, (await writer.PostJsonAsync("/api/v1/loaded-models/own/versions/1:load", "")).Status);
        Assert.Equal(HttpStatusCode.OK, (await writer.PostJsonAsync("/api/v1/loaded-models/own/versions/1:unload", "")).Status);
        Assert.Equal((HttpStatusCode.Forbidden, "insufficient_scope"), await ErrorAsync(reader, "/api/v1/loaded-models/own/versions/1:load"));
        Assert.Equal((HttpStatusCode.NotFound, "model_not_found"), await ErrorAsync(writer, "/api/v1/loaded-models/house/versions/1:load"));

        // The admin controls any tenant's model by its qualified name.
        var (status, body, _) = await admin.PostJsonAsync("/api/v1/loaded-models/acme%2Fown/versions/1:load", "");
        Assert.True(status == HttpStatusCode.OK, body.ToString());
        Assert.Equal(("acme/own", "acme"), (body.GetProperty("model").GetString(), body.GetProperty("tenant").GetString()));
    }

    [Fact]
    public async Task Pinning_a_model_in_its_serving_configuration_loads_it_at_once_and_unpinning_lets_it_go()
    {
        await using var server = await MaasTestServer.StartAsync();
        var client = server.Client;
        await RegisterAsync(client, "p", TestModels.Mlp(4, [8], 3));
        Assert.Null(Entry(await LoadedAsync(client), "p"));

        (await client.PutAsJsonAsync("/api/v1/models/p/config", new { pinned = true })).EnsureSuccessStatusCode();
        var list = await WaitForAsync(client, l => Entry(l, "p")?.GetProperty("state").GetString() == "ready", "the load of the model pinned just now");
        Assert.True(Entry(list, "p")!.Value.GetProperty("pinned").GetBoolean());

        (await client.PutAsJsonAsync("/api/v1/models/p/config", new { pinned = false })).EnsureSuccessStatusCode();
        await WaitForAsync(client, l => Entry(l, "p")?.GetProperty("pinned").GetBoolean() == false, "the unpin");
    }

    private static async Task<string> KeyAsync(HttpClient admin, string tenant, string scope)
    {
        var response = await admin.PostAsJsonAsync("/api/v1/keys", new { name = $"{tenant}-{scope.Replace(':', '-')}", tenant, scopes = new[] { scope } });
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, text);
        return JsonDocument.Parse(text).RootElement.GetProperty("key").GetString()!;
    }

    private static async Task<(HttpStatusCode Status, string? Code)> ErrorAsync(HttpClient client, string path)
    {
        var (status, body, _) = await client.PostJsonAsync(path, "");
        return (status, body.ValueKind == JsonValueKind.Object && body.TryGetProperty("error", out var e) && e.ValueKind == JsonValueKind.Object
            ? e.GetProperty("code").GetString()
            : body.ToString());
    }
}
