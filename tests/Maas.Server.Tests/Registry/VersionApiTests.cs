using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using Maas.Server.Tests.Support;
using Maas.Testing;

namespace Maas.Server.Tests.Registry;

/// <summary>Versions over HTTP: raw and multipart uploads of real and generated models, validation, download, delete.</summary>
public sealed class VersionApiTests(ServerPerDb servers) : IClassFixture<ServerPerDb>
{
    private const string UltraFace = "ultraface-rfb-320.onnx";
    private const string UltraFaceSha = "34cd7e60aeff28744c657de7a3dc64e872d506741de66987f3426f2b79f88017";
    private const string TinyLlama = "llama-2-tiny-random.gguf";
    private const string TinyLlamaSha = "81f226c62d28ed4a1a9b9fa080fcd9f0cc40e0f9d5680036583ff98fbcd035cb";

    [SharedModelTheory(UltraFace)]
    [OnSqlite]
    [OnPostgres]
    public async Task UltraFace_uploads_with_its_signature_and_downloads_byte_for_byte(Db db)
    {
        var server = await servers.GetAsync(db);
        var client = server.Client;
        var name = await client.CreateModelAsync(Names.Unique("ultraface"));
        var bytes = await File.ReadAllBytesAsync(SharedModels.PathOf(UltraFace));
        using var created = await client.PostAsync($"api/v1/models/{name}/versions", MaasTestServer.Artifact(File.OpenRead(SharedModels.PathOf(UltraFace)), UltraFace));
        var version = await created.JsonAsync(HttpStatusCode.Created);
        Assert.Equal($"/api/v1/models/{name}/versions/1", created.Headers.Location?.ToString());
        Assert.Equal(1, (int)version["version"]!);
        Assert.Equal("ready", (string?)version["status"]);
        Assert.Equal("onnx", (string?)version["format"]);
        Assert.Equal(UltraFaceSha, (string?)version["sha256"]);
        Assert.Equal(bytes.Length, (long)version["size_bytes"]!);
        Assert.Equal(UltraFace, (string?)version["file_name"]);
        var input = version["signature"]!["inputs"]!.AsArray().Single()!;
        Assert.Equal("input", (string?)input["name"]);
        Assert.Equal("FP32", (string?)input["datatype"]);
        Assert.Equal([1L, 3, 240, 320], input["shape"]!.AsArray().Select(d => (long)d!));
        var outputs = version["signature"]!["outputs"]!.AsArray();
        Assert.Equal(["scores", "boxes"], outputs.Select(o => (string?)o!["name"]));
        Assert.Equal([1L, 4420, 2], outputs[0]!["shape"]!.AsArray().Select(d => (long)d!));

        using (var shown = await client.GetAsync($"api/v1/models/{name}/versions/1"))
        {
            Assert.True(JsonNode.DeepEquals(version, await shown.JsonAsync(HttpStatusCode.OK)));
        }

        using (var download = await client.GetAsync($"api/v1/models/{name}/versions/1/artifact"))
        {
            Assert.Equal(HttpStatusCode.OK, download.StatusCode);
            Assert.Equal(bytes, await download.Content.ReadAsByteArrayAsync());
            Assert.Equal(UltraFaceSha, download.Headers.GetValues("X-Maas-Sha256").Single());
            Assert.Equal($"\"{UltraFaceSha}\"", download.Headers.ETag?.ToString());
            Assert.Equal(UltraFace, download.Content.Headers.ContentDisposition?.FileName?.Trim('"'));
        }

        using (var head = await client.SendAsync(new HttpRequestMessage(HttpMethod.Head, $"api/v1/models/{name}/versions/1/artifact")))
        {
            Assert.Equal(HttpStatusCode.OK, head.StatusCode);
            Assert.Equal(bytes.Length, head.Content.Headers.ContentLength);
        }

        using var ranged = new HttpRequestMessage(HttpMethod.Get, $"api/v1/models/{name}/versions/1/artifact");
        ranged.Headers.Range = new RangeHeaderValue(100, 199);
        using var part = await client.SendAsync(ranged);
        Assert.Equal(HttpStatusCode.PartialContent, part.StatusCode);
        Assert.Equal(bytes[100..200], await part.Content.ReadAsByteArrayAsync());
    }

    [SharedModelTheory(TinyLlama)]
    [OnSqlite]
    [OnPostgres]
    public async Task Llama_gguf_uploads_with_architecture_sizes_and_chat_template(Db db)
    {
        var client = (await servers.GetAsync(db)).Client;
        var name = await client.CreateModelAsync(Names.Unique("llama"));
        await using var file = File.OpenRead(SharedModels.PathOf(TinyLlama));
        using var created = await client.PostAsync($"api/v1/models/{name}/versions", MaasTestServer.Artifact(file, TinyLlama));
        var version = await created.JsonAsync(HttpStatusCode.Created);
        Assert.Equal("gguf", (string?)version["format"]);
        Assert.Equal(TinyLlamaSha, (string?)version["sha256"]);
        var signature = version["signature"]!;
        Assert.Equal("llama", (string?)signature["architecture"]);
        Assert.Equal(32000, (long)signature["vocabulary_size"]!);
        Assert.True((long)signature["parameter_count"]! > 0);
        Assert.True((long)signature["context_length"]! > 0);
        Assert.True((long)signature["tensor_count"]! > 0);
        Assert.False(string.IsNullOrEmpty((string?)signature["quantization"]));

        using var download = await client.GetAsync($"api/v1/models/{name}/versions/1/artifact");
        Assert.Equal(TinyLlamaSha, TestArtifacts.Sha256(await download.Content.ReadAsByteArrayAsync()));
    }

    [Theory]
    [OnSqlite]
    [OnPostgres]
    public async Task Versions_number_upward_carry_metadata_and_lineage_and_can_be_chosen(Db db)
    {
        var client = (await servers.GetAsync(db)).Client;
        var name = await client.CreateModelAsync();
        var gguf = TestArtifacts.Gguf(seed: 7);
        var v1 = await client.UploadAsync(name, gguf, "base.gguf");
        Assert.Equal(1, (int)v1["version"]!);
        Assert.Equal("gguf", (string?)v1["format"]);
        Assert.Equal("llama", (string?)v1["signature"]!["architecture"]);
        Assert.False(string.IsNullOrEmpty((string?)v1["signature"]!["chat_template"]));

        using var request = new HttpRequestMessage(HttpMethod.Post, $"api/v1/models/{name}/versions?derived_from={name}/versions/1&relation=quantized_from")
        {
            Content = MaasTestServer.Artifact(TestArtifacts.Gguf(seed: 8), "q8.gguf"),
        };
        request.Content.Headers.Add("X-Maas-Metadata", """{"quantization": "q8_0", "run": "42"}""");
        request.Content.Headers.Add("X-Maas-Sha256", TestArtifacts.Sha256(TestArtifacts.Gguf(seed: 8)).ToUpperInvariant());
        using var second = await client.SendAsync(request);
        var v2 = await second.JsonAsync(HttpStatusCode.Created);
        Assert.Equal(2, (int)v2["version"]!);
        Assert.Equal(name, (string?)v2["derived_from"]!["model"]);
        Assert.Equal(1, (int)v2["derived_from"]!["version"]!);
        Assert.Equal("quantized_from", (string?)v2["derived_from"]!["relation"]);
        Assert.Equal("q8_0", (string?)v2["metadata"]!["quantization"]);
        Assert.False(string.IsNullOrEmpty((string?)v2["created_by"]));

        var v10 = await client.UploadAsync(name, TestArtifacts.Onnx(), "model.onnx", "?version=10");
        Assert.Equal(10, (int)v10["version"]!);
        var v11 = await client.UploadAsync(name, TestArtifacts.Onnx(seed: 2), "model.onnx");
        Assert.Equal(11, (int)v11["version"]!);
        var v5 = await client.UploadAsync(name, TestArtifacts.Onnx(seed: 3), "model.onnx", "?version=5");
        Assert.Equal(5, (int)v5["version"]!);

        using (var taken = await client.PostAsync($"api/v1/models/{name}/versions?version=10", MaasTestServer.Artifact(TestArtifacts.Onnx(), "model.onnx")))
        {
            await taken.ErrorAsync(HttpStatusCode.Conflict, "version_exists");
        }

        using (var listed = await client.GetAsync($"api/v1/models/{name}/versions"))
        {
            var versions = (await listed.JsonAsync(HttpStatusCode.OK))["versions"]!.AsArray();
            Assert.Equal([1, 2, 5, 10, 11], versions.Select(v => (int)v!["version"]!));
        }

        using (var shown = await client.GetAsync($"api/v1/models/{name}"))
        {
            var model = await shown.JsonAsync(HttpStatusCode.OK);
            Assert.Equal(11, (int)model["latest_version"]!);
            Assert.Equal(5, model["versions"]!.AsArray().Count);
        }

        using (var badLineage = await client.PostAsync($"api/v1/models/{name}/versions?derived_from={name}/versions/99",
            MaasTestServer.Artifact(TestArtifacts.Onnx(), "model.onnx")))
        {
            await badLineage.ErrorAsync(HttpStatusCode.BadRequest, "lineage_not_found");
        }

        using (var badSha = await client.PostAsync($"api/v1/models/{name}/versions",
            WithHeader(MaasTestServer.Artifact(TestArtifacts.Onnx(), "model.onnx"), "X-Maas-Sha256", new string('0', 64))))
        {
            await badSha.ErrorAsync(HttpStatusCode.BadRequest, "checksum_mismatch");
        }

        using var missing = await client.GetAsync($"api/v1/models/{name}/versions/3");
        await missing.ErrorAsync(HttpStatusCode.NotFound, "version_not_found");
    }

    [Theory]
    [OnSqlite]
    [OnPostgres]
    public async Task Onnx_with_external_data_uploads_as_multipart_and_downloads_each_file(Db db)
    {
        var client = (await servers.GetAsync(db)).Client;
        var name = await client.CreateModelAsync();
        using var folder = new TempDirectory();
        var (modelPath, dataPath) = TestArtifacts.OnnxWithExternalData(folder.Path);
        var model = await File.ReadAllBytesAsync(modelPath);
        var data = await File.ReadAllBytesAsync(dataPath);

        using var form = new MultipartFormDataContent
        {
            { new StringContent("""{"source": "multipart-test"}"""), "metadata" },
            { new ByteArrayContent(model), "file", "mlp.onnx" },
            { new ByteArrayContent(data), "file", "mlp.weights" },
        };
        using var created = await client.PostAsync($"api/v1/models/{name}/versions", form);
        var version = await created.JsonAsync(HttpStatusCode.Created);
        Assert.Equal("onnx", (string?)version["format"]);
        Assert.Equal("mlp.onnx", (string?)version["file_name"]);
        Assert.Equal(TestArtifacts.Sha256(model), (string?)version["sha256"]);
        Assert.Equal(model.Length + data.Length, (long)version["size_bytes"]!);
        Assert.Equal("multipart-test", (string?)version["metadata"]!["source"]);
        var files = version["files"]!.AsArray();
        Assert.Equal(["mlp.onnx", "mlp.weights"], files.Select(f => (string?)f!["path"]));
        Assert.Equal(TestArtifacts.Sha256(data), (string?)files[1]!["sha256"]);
        var input = version["signature"]!["inputs"]!.AsArray().Single()!;
        Assert.Equal(-1, (long)input["shape"]![0]!);

        using (var primary = await client.GetAsync($"api/v1/models/{name}/versions/1/artifact"))
        {
            Assert.Equal(model, await primary.Content.ReadAsByteArrayAsync());
        }

        using (var side = await client.GetAsync($"api/v1/models/{name}/versions/1/artifact/mlp.weights"))
        {
            Assert.Equal(data, await side.Content.ReadAsByteArrayAsync());
        }

        using (var byQuery = await client.GetAsync($"api/v1/models/{name}/versions/1/artifact?file=mlp.weights"))
        {
            Assert.Equal(data, await byQuery.Content.ReadAsByteArrayAsync());
        }

        using (var none = await client.GetAsync($"api/v1/models/{name}/versions/1/artifact/other.bin"))
        {
            await none.ErrorAsync(HttpStatusCode.NotFound, "file_not_found");
        }

        // The same model without its weights file is refused with the reader's reason.
        using var alone = await client.PostAsync($"api/v1/models/{name}/versions", MaasTestServer.Artifact(model, "mlp.onnx"));
        var error = await alone.ErrorAsync(HttpStatusCode.BadRequest, "invalid_model_file");
        Assert.Contains("mlp.weights", (string?)error["message"]);
        Assert.Contains("missing", (string?)error["message"]);

        using var extra = new MultipartFormDataContent
        {
            { new ByteArrayContent(TestArtifacts.Onnx()), "file", "model.onnx" },
            { new ByteArrayContent([1, 2, 3]), "file", "stray.bin" },
        };
        using var stray = await client.PostAsync($"api/v1/models/{name}/versions", extra);
        await stray.ErrorAsync(HttpStatusCode.BadRequest, "unexpected_file");
    }

    [Theory]
    [OnSqlite]
    [OnPostgres]
    public async Task Invalid_files_are_refused_with_the_reason_and_leave_nothing_behind(Db db)
    {
        var server = await servers.GetAsync(db);
        var client = server.Client;
        var name = await client.CreateModelAsync();
        var gguf = TestArtifacts.Gguf();
        var cases = new (string Kind, byte[] Bytes, string File, string Code, string Reason)[]
        {
            ("truncated onnx", TestArtifacts.Truncated(TestArtifacts.Onnx(), 200), "model.onnx", "invalid_model_file", "truncated"),
            ("wrong magic", "PK\u0003\u0004 this is a zip, not a model"u8.ToArray(), "model.gguf", "unknown_format", "neither"),
            ("empty file", [], "model.onnx", "unknown_format", "neither"),
            ("truncated gguf", TestArtifacts.Truncated(gguf, 100), "model.gguf", "invalid_model_file", ""),
            ("gguf tensor past the end", TestArtifacts.Truncated(gguf, gguf.Length - 4096), "model.gguf", "invalid_model_file", ""),
            ("gguf of an unknown version", BadVersion(gguf), "model.gguf", "invalid_model_file", ""),
        };

        var number = 0;
        foreach (var (kind, bytes, file, code, reason) in cases)
        {
            number++;
            using var response = await client.PostAsync($"api/v1/models/{name}/versions", MaasTestServer.Artifact(bytes, file));
            var error = await response.ErrorAsync(HttpStatusCode.BadRequest, code);
            var message = (string?)error["message"] ?? "";
            Assert.True(message.Contains(file, StringComparison.Ordinal) && message.Contains(reason, StringComparison.OrdinalIgnoreCase), $"{kind}: {message}");
            using var shown = await client.GetAsync($"api/v1/models/{name}/versions/{number}");
            await shown.ErrorAsync(HttpStatusCode.NotFound, "version_not_found");
        }

        using var listed = await client.GetAsync($"api/v1/models/{name}/versions");
        Assert.Empty((await listed.JsonAsync(HttpStatusCode.OK))["versions"]!.AsArray());
        Assert.Empty(Directory.EnumerateFileSystemEntries(Path.Combine(server.DataDir, "tmp", "staging", "drafts")));

        // Refused numbers are not reused: numbers only go up.
        var next = await client.UploadAsync(name, TestArtifacts.Onnx(), "model.onnx");
        Assert.Equal(cases.Length + 1, (int)next["version"]!);
    }

    private static byte[] BadVersion(byte[] gguf)
    {
        var copy = (byte[])gguf.Clone();
        copy[4] = 99; // version field right after the magic
        return copy;
    }

    [Theory]
    [OnSqlite]
    [OnPostgres]
    public async Task Uploads_must_be_octet_stream_or_multipart_with_a_file_name(Db db)
    {
        var client = (await servers.GetAsync(db)).Client;
        var name = await client.CreateModelAsync();
        using (var noName = await client.PostAsync($"api/v1/models/{name}/versions",
            new ByteArrayContent(TestArtifacts.Onnx()) { Headers = { ContentType = new MediaTypeHeaderValue("application/octet-stream") } }))
        {
            await noName.ErrorAsync(HttpStatusCode.BadRequest, "missing_filename");
        }

        using (var badName = await client.PostAsync($"api/v1/models/{name}/versions", MaasTestServer.Artifact(TestArtifacts.Onnx(), "../../etc/passwd")))
        {
            await badName.ErrorAsync(HttpStatusCode.BadRequest, "invalid_filename");
        }

        using (var json = await client.PostAsync($"api/v1/models/{name}/versions", Api.Json("{}")))
        {
            await json.ErrorAsync(HttpStatusCode.UnsupportedMediaType, "unsupported_media_type");
        }

        using (var noModel = await client.PostAsync("api/v1/models/no-such-model-up/versions", MaasTestServer.Artifact(TestArtifacts.Onnx(), "model.onnx")))
        {
            await noModel.ErrorAsync(HttpStatusCode.NotFound, "model_not_found");
        }

        using var emptyForm = new MultipartFormDataContent { { new StringContent("{}"), "metadata" } };
        using var noFile = await client.PostAsync($"api/v1/models/{name}/versions", emptyForm);
        await noFile.ErrorAsync(HttpStatusCode.BadRequest, "empty_upload");

        // A misspelt field is refused rather than dropped (its lineage or metadata would be lost without a word).
        using (var misspelt = new MultipartFormDataContent { { new StringContent("{\"k\": \"v\"}"), "metdata" },
            { new ByteArrayContent(TestArtifacts.Onnx()), "file", "model.onnx" } })
        {
            using var refused = await client.PostAsync($"api/v1/models/{name}/versions", misspelt);
            var error = await refused.ErrorAsync(HttpStatusCode.BadRequest, "bad_request");
            Assert.Contains("'metdata'", (string?)error["message"], StringComparison.Ordinal);
        }

        // A body that never reaches its closing boundary (no boundary at all, or cut off inside a file part) is the
        // caller's mistake: it used to be a 500.
        var onnx = TestArtifacts.Onnx();
        var cut = Encoding.ASCII.GetBytes("--x\r\nContent-Disposition: form-data; name=\"file\"; filename=\"model.onnx\"\r\n\r\n").Concat(onnx[..(onnx.Length / 2)]).ToArray();
        foreach (var body in new[] { Encoding.ASCII.GetBytes("garbage"), cut })
        {
            using var content = new ByteArrayContent(body);
            content.Headers.TryAddWithoutValidation("Content-Type", "multipart/form-data; boundary=x");
            using var response = await client.PostAsync($"api/v1/models/{name}/versions", content);
            await response.ErrorAsync(HttpStatusCode.BadRequest, "bad_request");
        }

        Assert.Empty((await (await client.GetAsync($"api/v1/models/{name}/versions")).JsonAsync(HttpStatusCode.OK))["versions"]!.AsArray());
    }

    [Theory]
    [OnSqlite]
    [OnPostgres]
    public async Task The_upload_limit_is_enforced_while_streaming_and_reported(Db db)
    {
        await using var database = await TestDatabase.CreateAsync(db);
        await using var server = await MaasTestServer.StartAsync(database, new Dictionary<string, string?> { ["Maas:Registry:MaxUploadBytes"] = "65536" });
        var name = await server.Client.CreateModelAsync();

        // Declared length: refused before a byte is read.
        using (var declared = await server.Client.PostAsync($"api/v1/models/{name}/versions", MaasTestServer.Artifact(new byte[70_000], "model.gguf")))
        {
            var error = await declared.ErrorAsync(HttpStatusCode.RequestEntityTooLarge, "upload_too_large");
            Assert.Equal(65536, (long)error["limit_bytes"]!);
        }

        // Chunked (no length): refused when the limit is crossed.
        var chunked = MaasTestServer.Artifact(new NoLengthStream(new byte[200_000]), "model.gguf");
        using (var streamed = await server.Client.PostAsync($"api/v1/models/{name}/versions", chunked))
        {
            var error = await streamed.ErrorAsync(HttpStatusCode.RequestEntityTooLarge, "upload_too_large");
            Assert.Contains("65536", (string?)error["message"]);
        }

        using var listed = await server.Client.GetAsync($"api/v1/models/{name}/versions");
        Assert.Empty((await listed.JsonAsync(HttpStatusCode.OK))["versions"]!.AsArray());
        Assert.Empty(Directory.EnumerateFileSystemEntries(Path.Combine(server.DataDir, "tmp", "staging", "drafts")));
        var small = await server.Client.UploadAsync(name, TestArtifacts.Onnx(), "model.onnx");
        Assert.Equal("ready", (string?)small["status"]);
    }

    [Theory]
    [OnSqlite]
    [OnPostgres]
    public async Task Deleting_respects_aliases_unless_forced_and_shares_identical_artifacts(Db db)
    {
        var server = await servers.GetAsync(db);
        var client = server.Client;
        var name = await client.CreateModelAsync();
        var bytes = TestArtifacts.Onnx(seed: 99);
        var sha = TestArtifacts.Sha256(bytes);
        await client.UploadAsync(name, bytes, "a.onnx");
        await client.UploadAsync(name, bytes, "b.onnx");
        var artifact = Path.Combine(server.DataDir, "artifacts", "sha256", sha[..2], sha, sha);
        Assert.True(File.Exists(artifact));
        using (var alias = await client.PutAsync($"api/v1/models/{name}/aliases/production", Api.Json("""{"version": 1}""")))
        {
            await alias.JsonAsync(HttpStatusCode.OK);
        }

        using (var refused = await client.DeleteAsync($"api/v1/models/{name}/versions/1"))
        {
            var error = await refused.ErrorAsync(HttpStatusCode.Conflict, "version_aliased");
            Assert.Equal(["production"], error["aliases"]!.AsArray().Select(a => (string?)a));
        }

        using (var modelRefused = await client.DeleteAsync($"api/v1/models/{name}"))
        {
            await modelRefused.ErrorAsync(HttpStatusCode.Conflict, "model_in_use");
        }

        using (var forced = await client.DeleteAsync($"api/v1/models/{name}/versions/1?force=true"))
        {
            Assert.Equal(HttpStatusCode.NoContent, forced.StatusCode);
        }

        using (var aliasGone = await client.GetAsync($"api/v1/models/{name}/aliases/production"))
        {
            await aliasGone.ErrorAsync(HttpStatusCode.NotFound, "alias_not_found");
        }

        Assert.True(File.Exists(artifact), "version 2 still uses the same content");
        using (var download = await client.GetAsync($"api/v1/models/{name}/versions/2/artifact"))
        {
            Assert.Equal(bytes, await download.Content.ReadAsByteArrayAsync());
        }

        using (var plain = await client.DeleteAsync($"api/v1/models/{name}/versions/2"))
        {
            Assert.Equal(HttpStatusCode.NoContent, plain.StatusCode);
        }

        Assert.False(File.Exists(artifact), "no version uses the content any more");
        using (var again = await client.DeleteAsync($"api/v1/models/{name}/versions/2"))
        {
            await again.ErrorAsync(HttpStatusCode.NotFound, "version_not_found");
        }

        var v3 = await client.UploadAsync(name, bytes, "c.onnx");
        Assert.Equal(3, (int)v3["version"]!);
        using (var deleteModel = await client.DeleteAsync($"api/v1/models/{name}"))
        {
            Assert.Equal(HttpStatusCode.NoContent, deleteModel.StatusCode);
        }

        Assert.False(File.Exists(artifact));
    }

    [Theory]
    [OnSqlite]
    [OnPostgres]
    public async Task Two_clients_creating_the_same_version_number_get_one_winner_and_a_409(Db db)
    {
        var server = await servers.GetAsync(db);
        var name = await server.Client.CreateModelAsync();
        var clients = Enumerable.Range(0, 6).Select(_ => server.CreateClient()).ToArray();
        try
        {
            var responses = await Task.WhenAll(clients.Select((c, i) =>
                c.PostAsync($"api/v1/models/{name}/versions?version=7", MaasTestServer.Artifact(TestArtifacts.Onnx(seed: i + 1), "model.onnx"))));
            var statuses = responses.Select(r => r.StatusCode).ToArray();
            Assert.Single(statuses, HttpStatusCode.Created);
            Assert.Equal(5, statuses.Count(s => s == HttpStatusCode.Conflict));
            foreach (var loser in responses.Where(r => r.StatusCode == HttpStatusCode.Conflict))
            {
                await loser.ErrorAsync(HttpStatusCode.Conflict, "version_exists");
            }

            // Without a number, concurrent uploads all win, each with its own number.
            var auto = await Task.WhenAll(clients.Select((c, i) =>
                c.PostAsync($"api/v1/models/{name}/versions", MaasTestServer.Artifact(TestArtifacts.Onnx(seed: i + 10), "model.onnx"))));
            var numbers = new List<int>();
            foreach (var response in auto)
            {
                numbers.Add((int)(await response.JsonAsync(HttpStatusCode.Created))["version"]!);
            }

            Assert.Equal([8, 9, 10, 11, 12, 13], numbers.Order());
            foreach (var response in responses.Concat(auto))
            {
                response.Dispose();
            }
        }
        finally
        {
            foreach (var client in clients)
            {
                client.Dispose();
            }
        }
    }

    private static HttpContent WithHeader(HttpContent content, string name, string value)
    {
        content.Headers.Add(name, value);
        return content;
    }

    // A body without a known length, so the client sends it chunked.
    private sealed class NoLengthStream(byte[] bytes) : MemoryStream(bytes)
    {
        public override bool CanSeek => false;
    }
}
