using System.Net;
using System.Text.Json.Nodes;
using Maas.Server.Tests.Support;
using Maas.Testing;

namespace Maas.Server.Tests.Registry;

/// <summary>
/// Hostile model files uploaded to a real server: each gets 201 or a clean 400, the server lives through all of
/// them and through loading the ones it accepted, and no model reaches another artifact through external data.
/// </summary>
public sealed class HostileUploadTests(ServerPerDb servers) : IClassFixture<ServerPerDb>
{
    [Fact]
    public async Task Mutated_and_crafted_model_files_get_201_or_a_clean_400_and_the_server_lives()
    {
        var server = await servers.GetAsync(Db.Sqlite);
        var client = server.Client;
        var name = await client.CreateModelAsync();
        // Every fourth mutation and every hand-made attack: enough to cover each kind, quick enough for every run.
        var crafted = HostileModels.Crafted();
        var sample = HostileModels.Corpus().SkipLast(crafted.Count).Where((_, i) => i % 4 == 0).Concat(crafted).ToArray();
        var accepted = new List<(int Version, HostileModel Model)>();
        foreach (var model in sample)
        {
            using var response = await client.PostAsync($"api/v1/models/{name}/versions", MaasTestServer.Artifact(model.Bytes, model.FileName));
            if (response.StatusCode == HttpStatusCode.Created)
            {
                var version = await response.JsonAsync(HttpStatusCode.Created);
                accepted.Add(((int)version["version"]!, model));
                continue;
            }

            var text = await response.Content.ReadAsStringAsync();
            Assert.True(response.StatusCode == HttpStatusCode.BadRequest, $"{model}: {(int)response.StatusCode} {text}");
            var code = (string?)JsonNode.Parse(text)!["error"]!["code"];
            Assert.True(code is "invalid_model_file" or "unknown_format", $"{model}: {code} {text}");
            Assert.DoesNotContain("   at ", text, StringComparison.Ordinal);
        }

        Assert.NotEmpty(accepted);
        Assert.True(accepted.Count < sample.Length / 2, $"{accepted.Count} of {sample.Length} accepted");

        // Loading what was accepted: the engine may refuse a file (a clean error) but must not take the server down.
        foreach (var (version, model) in accepted.Where(a => a.Model.FileName.EndsWith(".onnx", StringComparison.Ordinal)))
        {
            using var infer = await client.PostAsync(
                $"v2/models/{name}/versions/{version}/infer",
                Api.Json("""{"inputs": [{"name": "input", "datatype": "FP32", "shape": [1, 4], "data": [1, 2, 3, 4]}]}"""));
            var text = await infer.Content.ReadAsStringAsync();
            Assert.True((int)infer.StatusCode is 200 or 400 or 404 or 422 or 503 or 500, $"{model}: {(int)infer.StatusCode} {text}");
            Assert.DoesNotContain("   at ", text, StringComparison.Ordinal);
        }

        using var live = await client.GetAsync("health/live");
        Assert.Equal(HttpStatusCode.OK, live.StatusCode);
    }

    [Fact]
    public async Task No_tensor_container_can_point_its_external_data_at_another_artifact()
    {
        var server = await servers.GetAsync(Db.Sqlite);
        var client = server.Client;
        var victim = await client.CreateModelAsync();
        var secret = TestArtifacts.Onnx(seed: 4242);
        var sha = TestArtifacts.Sha256(secret);
        await client.UploadAsync(victim, secret, "model.onnx");
        var stored = Path.Combine(server.DataDir, "artifacts", "sha256", sha[..2], sha, sha);
        Assert.True(File.Exists(stored), "the victim's artifact sits in a folder of its own");

        var attacker = await client.CreateModelAsync();
        foreach (var container in HostileModels.TensorContainers)
        {
            // Another version's file by every route: a sibling key (the layout before folders), the parent's
            // neighbour, its absolute path.
            foreach (var location in new[] { sha, $"../{sha}/{sha}", $"../../{sha[..2]}/{sha}/{sha}", stored })
            {
                var model = HostileModels.MlpWith(container, HostileModels.ExternalTensor("stolen", location, 0, 16));
                using var response = await client.PostAsync($"api/v1/models/{attacker}/versions", MaasTestServer.Artifact(model, "model.onnx"));
                var error = await response.ErrorAsync(HttpStatusCode.BadRequest, "invalid_model_file");
                Assert.Contains("stolen", (string?)error["message"], StringComparison.Ordinal);
            }

            // Its own external data file, uploaded with it, is fine from any container.
            using var form = new MultipartFormDataContent
            {
                { new ByteArrayContent(HostileModels.MlpWith(container, HostileModels.ExternalTensor("own", "own.bin"))), "file", "model.onnx" },
                { new ByteArrayContent(new byte[16]), "file", "own.bin" },
            };
            using var bundle = await client.PostAsync($"api/v1/models/{attacker}/versions", form);
            await bundle.JsonAsync(HttpStatusCode.Created);
        }
    }
}
