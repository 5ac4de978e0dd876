using System.Diagnostics;
using System.Net;
using System.Security.Cryptography;
using Maas.Server.Tests.Support;
using Xunit.Abstractions;
using static Maas.Testing.Conditions;

namespace Maas.Server.Tests.Registry;

/// <summary>Tests that run the server as its own process, one at a time (they measure it and kill it).</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ServerProcessCollection
{
    /// <summary>The collection's name.</summary>
    public const string Name = "server process";
}

/// <summary>A killed server recovers to a consistent registry; a 2 GB upload streams with flat memory.</summary>
[Collection(ServerProcessCollection.Name)]
public sealed class ServerProcessTests(ITestOutputHelper output)
{
    private const long MiB = 1 << 20;

    [Theory]
    [OnSqlite]
    [OnPostgres]
    public async Task Killing_the_server_mid_upload_leaves_registry_and_artifacts_consistent(Db db)
    {
        await using var database = await TestDatabase.CreateAsync(db);
        using var data = new TempDirectory("maas-kill");
        var drafts = Path.Combine(data.Path, "tmp", "staging", "drafts");
        var artifacts = Path.Combine(data.Path, "artifacts");
        string name;
        string sessionId;
        var onnx = TestArtifacts.Onnx(seed: 41);
        var gguf = TestArtifacts.Gguf(seed: 42);
        var half = gguf.Length / 2;

        await using (var first = await MaasServerProcess.StartAsync(data.Path, database.Settings))
        {
            var client = first.Client;
            name = await client.CreateModelAsync();
            await client.UploadAsync(name, onnx, "model.onnx");

            using (var session = await client.PostAsync($"api/v1/models/{name}/uploads", Api.Json($$"""{"filename": "resumed.gguf", "size": {{gguf.Length}}}""")))
            {
                sessionId = (string)(await session.JsonAsync(HttpStatusCode.Created))["id"]!;
            }

            var chunk = new HttpRequestMessage(HttpMethod.Patch, $"api/v1/uploads/{sessionId}") { Content = new ByteArrayContent(gguf[..half]) };
            chunk.Headers.Add("Upload-Offset", "0");
            (await client.SendAsync(chunk)).Dispose();

            // A 1 GB upload that stops feeding bytes after 300 MB: the server is in the middle of it when it dies.
            var big = new GeneratedGgufStream(1L << 30) { PauseAt = 300 * MiB };
            var upload = client.PostAsync($"api/v1/models/{name}/versions", MaasTestServer.Artifact(big, "big.gguf"));
            await big.Paused.Task.WaitAsync(TimeSpan.FromSeconds(60));
            await WaitUntilAsync(() => StagedBytes(drafts) >= 200 * MiB, "the server to stage 200 MB of the upload");
            Assert.Equal(1, await RegistryDatabase.ScalarAsync(database, data.Path, "SELECT COUNT(*) FROM model_versions WHERE status = 'uploading'"));

            await first.KillAsync();

            // The paused body must move again for the client to notice that the server is gone.
            big.Resume();
            await Assert.ThrowsAnyAsync<Exception>(() => upload.WaitAsync(TimeSpan.FromSeconds(60)));
        }

        // What the crash left: a half-written draft and a reserved version row.
        Assert.NotEmpty(Directory.EnumerateFileSystemEntries(drafts));

        // The restarted server cannot tell at once a crashed server from a live one beside it on the same database:
        // what the crashed one owned goes once its heartbeat lapsed (a short lapse here), not at the start.
        var restart = new Dictionary<string, string?>(database.Settings) { ["Maas:Instances:HeartbeatMs"] = "200", ["Maas:Instances:LapseMs"] = "1000" };
        await using var second = await MaasServerProcess.StartAsync(data.Path, restart);
        var restarted = second.Client;
        await WaitUntilAsync(
            async () => !Directory.EnumerateFileSystemEntries(drafts).Any()
                && await RegistryDatabase.ScalarAsync(database, data.Path, "SELECT COUNT(*) FROM model_versions WHERE status = 'uploading'") == 0,
            "the crashed server's uploading version and draft removed once its heartbeat lapsed");
        using (var versions = await restarted.GetAsync($"api/v1/models/{name}/versions"))
        {
            var listed = (await versions.JsonAsync(HttpStatusCode.OK))["versions"]!.AsArray();
            Assert.Equal([1], listed.Select(v => (int)v!["version"]!));
        }

        using (var missing = await restarted.GetAsync($"api/v1/models/{name}/versions/2"))
        {
            await missing.ErrorAsync(HttpStatusCode.NotFound, "version_not_found");
        }

        Assert.Equal(0, await RegistryDatabase.ScalarAsync(database, data.Path, "SELECT COUNT(*) FROM model_versions WHERE status = 'uploading'"));
        Assert.Empty(Directory.EnumerateFileSystemEntries(drafts));
        Assert.Empty(Directory.EnumerateFileSystemEntries(Path.Combine(artifacts, ".tmp")));
        var stored = Directory.EnumerateFiles(Path.Combine(artifacts, "sha256"), "*", SearchOption.AllDirectories).Select(f => Path.GetFileName(f)).ToArray();
        Assert.Equal([TestArtifacts.Sha256(onnx)], stored);
        using (var download = await restarted.GetAsync($"api/v1/models/{name}/versions/1/artifact"))
        {
            Assert.Equal(onnx, await download.Content.ReadAsByteArrayAsync());
        }

        // The resumable upload survived the crash and goes on where it was.
        using (var head = await restarted.SendAsync(new HttpRequestMessage(HttpMethod.Head, $"api/v1/uploads/{sessionId}")))
        {
            Assert.Equal(half.ToString(System.Globalization.CultureInfo.InvariantCulture), head.Headers.GetValues("Upload-Offset").Single());
        }

        var rest = new HttpRequestMessage(HttpMethod.Patch, $"api/v1/uploads/{sessionId}") { Content = new ByteArrayContent(gguf[half..]) };
        rest.Headers.Add("Upload-Offset", half.ToString(System.Globalization.CultureInfo.InvariantCulture));
        (await restarted.SendAsync(rest)).Dispose();
        using var completed = await restarted.PostAsync($"api/v1/uploads/{sessionId}/complete", Api.Json("{}"));
        var version = await completed.JsonAsync(HttpStatusCode.Created);
        Assert.Equal(3, (int)version["version"]!); // 2 went to the upload that died.
        Assert.Equal(TestArtifacts.Sha256(gguf), (string?)version["sha256"]);
    }

    [Fact]
    public async Task A_2_GB_upload_streams_through_with_flat_memory()
    {
        using var data = new TempDirectory("maas-2gb");
        await using var server = await MaasServerProcess.StartAsync(data.Path);
        var name = await server.Client.CreateModelAsync();
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var body = new GeneratedGgufStream(2L << 30) { Hash = sha };

        long peakSampled = 0;
        using var sampling = new CancellationTokenSource();
        var sampler = Task.Run(async () =>
        {
            while (!sampling.IsCancellationRequested)
            {
                peakSampled = Math.Max(peakSampled, server.StatusBytes("VmRSS") ?? 0);
                await Task.Delay(100);
            }
        });

        var clock = Stopwatch.StartNew();
        using var response = await server.Client.PostAsync($"api/v1/models/{name}/versions", MaasTestServer.Artifact(body, "big.gguf"));
        var version = await response.JsonAsync(HttpStatusCode.Created);
        clock.Stop();
        await sampling.CancelAsync();
        await sampler;
        var peak = server.StatusBytes("VmHWM") ?? peakSampled;

        output.WriteLine($"2 GB upload: {clock.Elapsed.TotalSeconds:F1} s ({body.Length / MiB / clock.Elapsed.TotalSeconds:F0} MiB/s), server peak RSS {peak / MiB} MiB " +
            $"(VmHWM), highest sample {peakSampled / MiB} MiB");
        Assert.Equal(body.Length, (long)version["size_bytes"]!);
        Assert.Equal(Convert.ToHexStringLower(sha.GetHashAndReset()), (string?)version["sha256"]);
        Assert.Equal("gguf", (string?)version["format"]);
        Assert.True(peak < 300 * MiB, $"server peak RSS {peak / MiB} MiB (sampled {peakSampled / MiB} MiB) for a {body.Length / MiB} MiB upload");

        using var deleted = await server.Client.DeleteAsync($"api/v1/models/{name}");
        Assert.Equal(HttpStatusCode.NoContent, deleted.StatusCode);
    }

    private static long StagedBytes(string drafts) => Directory.Exists(drafts)
        ? Directory.EnumerateFiles(drafts, "*", SearchOption.AllDirectories).Sum(f => new FileInfo(f).Length)
        : 0;
}
