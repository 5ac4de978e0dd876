using System.Globalization;
using System.Net;
using System.Text;
using Maas.Cli.Tests.Support;
using Maas.Client;
using Maas.Client.Chat;
using Maas.Client.Datasets;
using Maas.Client.Registry;
using Maas.Client.Tenancy;
using Maas.Server.Tests.Support;

namespace Maas.Cli.Tests;

/// <summary>The typed client library against the real server: answers, progress, resumable uploads and errors.</summary>
[Collection(CliServerCollection.Name)]
public sealed class MaasClientTests(CliServerFixture fixture)
{
    private MaasClient Client => fixture.Client;

    [Fact]
    public async Task Errors_carry_the_status_the_server_code_and_its_message()
    {
        var missing = await Assert.ThrowsAsync<MaasApiException>(() => Client.GetModelAsync("no-such-model"));
        Assert.Equal(HttpStatusCode.NotFound, missing.Status);
        Assert.Equal("model_not_found", missing.Code);
        Assert.Contains("no-such-model", missing.Message);

        using var anonymous = new MaasClient(fixture.Server.BaseAddress, null);
        var refused = await Assert.ThrowsAsync<MaasApiException>(() => anonymous.ListModelsAsync());
        Assert.Equal(HttpStatusCode.Unauthorized, refused.Status);
        Assert.Equal("missing_api_key", refused.Code);
        Assert.Contains("'Authorization: Bearer <key>'", refused.Message);

        var chat = await Assert.ThrowsAsync<MaasApiException>(() => Client.CompleteChatAsync(new ChatRequest("no-such-llm", [new ChatMessage("user", "hi")])));
        Assert.Equal("model_not_found", chat.Code);
    }

    [Fact]
    public async Task An_upload_reports_progress_to_the_last_byte_and_returns_the_version()
    {
        var name = Names.Unique("client");
        var model = await Client.CreateModelAsync(new NewModel(name) { Tags = ["test"] });
        Assert.Equal(name, model.Name);
        var bytes = TestArtifacts.Onnx(seed: 9);
        long reported = 0;
        var version = await Client.UploadVersionAsync(name, new MemoryStream(bytes), "mlp.onnx", new UploadOptions { Sha256 = TestArtifacts.Sha256(bytes) },
            new SyncProgress(v => reported = v));
        Assert.Equal(bytes.Length, reported);
        Assert.Equal(1, version.Version);
        Assert.Equal("onnx", version.Format);
        var listed = await Client.ListModelsAsync(new ModelQuery { Search = name });
        Assert.Equal(name, Assert.Single(listed.Models).Name);

        var mismatch = await Assert.ThrowsAsync<MaasApiException>(
            () => Client.UploadVersionAsync(name, new MemoryStream(bytes), "mlp.onnx", new UploadOptions { Sha256 = new string('0', 64) }));
        Assert.Equal("checksum_mismatch", mismatch.Code);
    }

    [Fact]
    public async Task Another_tenants_model_is_named_tenant_slash_name_and_the_client_escapes_the_slash()
    {
        var tenant = Names.Unique("t");
        var name = Names.Unique("client-ns");
        var qualified = $"{tenant}/{name}";
        await Client.CreateTenantAsync(tenant); // a model's owner must be a tenant
        var created = await Client.CreateModelAsync(new NewModel(name) { Owner = tenant });
        Assert.Equal((tenant, qualified), (created.Owner, created.QualifiedName));

        await Client.UploadVersionAsync(qualified, new MemoryStream(TestArtifacts.Onnx(seed: 10)), "mlp.onnx");
        var model = await Client.GetModelAsync(qualified);
        Assert.Equal((name, tenant, 1), (model.Name, model.Owner, model.LatestVersion));
        Assert.Equal(1, (await Client.GetVersionAsync(qualified, 1)).Version);
        Assert.Equal("input", (await Client.GetModelMetadataAsync($"{qualified}/versions/1")).Inputs[0].Name);

        // The short name is the admin's own (default) tenant's, which has no such model.
        Assert.Equal(HttpStatusCode.NotFound, (await Assert.ThrowsAsync<MaasApiException>(() => Client.GetModelAsync($"{Names.Unique("t")}/{name}"))).Status);
        await Client.DeleteModelAsync(qualified, force: true);
        Assert.Equal(HttpStatusCode.NotFound, (await Assert.ThrowsAsync<MaasApiException>(() => Client.GetModelAsync(qualified))).Status);
    }

    [Fact]
    public async Task A_resumable_upload_goes_on_from_the_offset_an_earlier_session_reached()
    {
        var name = Names.Unique("resume");
        await Client.CreateModelAsync(new NewModel(name));
        var bytes = TestArtifacts.Gguf(seed: 3);
        using var folder = new TempDirectory("maas-client-resume");
        var path = Path.Combine(folder.Path, "tiny.gguf");
        await File.WriteAllBytesAsync(path, bytes);

        // A first client sent one chunk and went away.
        var session = await Client.CreateUploadAsync(name, "tiny.gguf", bytes.Length);
        var offset = await Client.UploadChunkAsync(session.Id, 0, bytes.AsMemory(0, 100_000));
        Assert.Equal(100_000, offset);

        var reports = new List<long>();
        var version = await Client.UploadVersionResumableAsync(
            name, path, null, new ResumableUploadOptions { SessionId = session.Id, ChunkBytes = 64 * 1024 }, new SyncProgress(reports.Add));
        Assert.Equal(100_000, reports[0]); // started where the server was, not at 0
        Assert.Equal(bytes.Length, reports[^1]);
        Assert.Equal(TestArtifacts.Sha256(bytes), version.Sha256);
        var gone = await Assert.ThrowsAsync<MaasApiException>(() => Client.GetUploadAsync(session.Id));
        Assert.Equal(HttpStatusCode.NotFound, gone.Status);
    }

    [Fact]
    public async Task A_resumable_dataset_upload_goes_on_after_a_broken_connection_and_becomes_a_version()
    {
        var name = Names.Unique("ds-resume");
        await Client.CreateDatasetAsync(name);
        using var folder = new TempDirectory("maas-client-ds-resume");
        var path = Path.Combine(folder.Path, "rows.csv");
        var csv = new StringBuilder("x,y\n");
        for (var i = 0; i < 20_000; i++)
        {
            csv.Append(CultureInfo.InvariantCulture, $"{i},{(2 * i) + 1}\n");
        }

        await File.WriteAllTextAsync(path, csv.ToString());
        var bytes = await File.ReadAllBytesAsync(path);
        Assert.True(bytes.Length > 3 * 64 * 1024, $"the file ({bytes.Length} bytes) should take several chunks");

        // The connection is reset in the middle of the second chunk's body; the client asks where the server is and goes on.
        await using var relay = CuttingRelay.To(fixture.Server.BaseAddress);
        using var client = new MaasClient(relay.Address, MaasTestServer.AdminKey);
        relay.CutAfter(100_000);
        var reports = new List<long>();
        DatasetUploadSession? started = null;
        var version = await client.UploadDatasetVersionResumableAsync(
            name, path, null, new ResumableUploadOptions { ChunkBytes = 64 * 1024 }, s => started = s, new SyncProgress(reports.Add));

        Assert.Equal(1, relay.Cuts);
        Assert.Equal(TestArtifacts.Sha256(bytes), version.Sha256);
        Assert.Equal((1, 20_000L), (version.Version, version.Rows));
        Assert.Equal(bytes.Length, reports[^1]);
        Assert.Equal(reports.Order(), reports); // the bytes the server holds never went back
        var gone = await Assert.ThrowsAsync<MaasApiException>(() => Client.GetDatasetUploadAsync(name, started!.Id));
        Assert.Equal("upload_not_found", gone.Code);
    }

    [Fact]
    public async Task Infer_chat_keys_usage_and_status_answer_typed()
    {
        var metadata = await Client.GetModelMetadataAsync("demo-classifier");
        var input = Assert.Single(metadata.Inputs);
        var answer = await Client.InferAsync("demo-classifier", new Maas.Client.Inference.InferRequest(
            [new Maas.Client.Inference.InferTensor(input.Name, "FP32", [1, 4], new System.Text.Json.Nodes.JsonArray(5.1, 3.5, 1.4, 0.2))]));
        Assert.Equal("demo-classifier", answer.ModelName);
        Assert.Equal([1L, 3L], answer.Outputs[0].Shape);

        var pieces = new List<ChatDelta>();
        await foreach (var delta in Client.StreamChatAsync(new ChatRequest("demo-llm", [new ChatMessage("user", "Hello")]) { MaxTokens = 6, Seed = 2 }))
        {
            pieces.Add(delta);
        }

        Assert.Contains(pieces, p => !string.IsNullOrEmpty(p.Content));
        Assert.Equal(6, pieces.Last(p => p.Usage is not null).Usage!.CompletionTokens);
        var whole = await Client.CompleteChatAsync(new ChatRequest("demo-llm", [new ChatMessage("user", "Hello")]) { MaxTokens = 6, Seed = 2 });
        Assert.Equal(string.Concat(pieces.Select(p => p.Content)), whole.Content); // same seed, same text

        var key = await Client.CreateKeyAsync(new NewApiKey(Names.Unique("k")) { Scopes = ["infer"] });
        Assert.StartsWith(key.Prefix!, key.Key);
        using (var limited = new MaasClient(fixture.Server.BaseAddress, key.Key))
        {
            Assert.Equal(key.Id, (await limited.MeAsync()).KeyId);
        }

        await Client.RevokeKeyAsync(key.Id);
        Assert.Contains((await Client.ListKeysAsync(includeRevoked: true)).Keys, k => k.Id == key.Id && k.Status == "revoked");

        var usage = await Client.GetUsageAsync(new UsageQuery { GroupBy = "none" });
        Assert.True(usage.Totals!.Requests > 0);
        var status = await Client.StatusAsync();
        Assert.Contains(status.Onnx, m => m.Name == "demo-classifier" && m.State == "READY");
        Assert.Contains(status.Llm, e => e.Model == "demo-llm");
    }

    private sealed class SyncProgress(Action<long> report) : IProgress<long>
    {
        public void Report(long value) => report(value);
    }
}
