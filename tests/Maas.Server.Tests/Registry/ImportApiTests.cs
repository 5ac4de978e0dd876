using System.Net;
using Maas.Server.Tests.Support;
using Maas.Testing;

namespace Maas.Server.Tests.Registry;

/// <summary>Servers whose Hugging Face endpoint is a loopback file server (no outside host is reachable here).</summary>
public sealed class ImportServers : ServerPerDb
{
    /// <summary>The token the fake hub requires.</summary>
    public const string HubToken = "hf_test_token_123";

    /// <summary>The loopback "outside" host.</summary>
    public LoopbackFileServer Files { get; private set; } = null!;

    /// <inheritdoc />
    protected override IReadOnlyDictionary<string, string?> Settings => new Dictionary<string, string?>
    {
        // The hub is "localhost" and everything else "127.0.0.1": two hosts, so the token's host rule is tested.
        ["Maas:Registry:HuggingFaceEndpoint"] = $"http://localhost:{Files.BaseAddress.Port}/",
        ["Maas:Registry:HuggingFaceToken"] = HubToken,
        ["Maas:Registry:ImportStallTimeoutSeconds"] = "1",
        ["Maas:Registry:ImportAllowPrivateNetworks"] = "true", // the "outside" host is on loopback
    };

    /// <inheritdoc />
    public override async Task InitializeAsync() => Files = await LoopbackFileServer.StartAsync();

    /// <inheritdoc />
    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        await Files.DisposeAsync();
    }
}

/// <summary>Imports from URLs as background jobs: progress, resume after a broken connection, checksums, hf:// references.</summary>
public sealed class ImportApiTests(ImportServers servers) : IClassFixture<ImportServers>
{
    private static async Task<(string Id, HttpResponseMessage Response)> StartImportAsync(HttpClient client, string model, string body)
    {
        var response = await client.PostAsync($"api/v1/models/{model}/versions:import", Api.Json(body));
        var job = await response.JsonAsync(HttpStatusCode.Accepted);
        Assert.Equal("import", (string?)job["kind"]);
        Assert.Equal(model, (string?)job["model"]);
        Assert.Equal($"/api/v1/jobs/{job["id"]}", response.Headers.Location?.ToString());
        return ((string)job["id"]!, response);
    }

    [Theory]
    [OnSqlite]
    [OnPostgres]
    public async Task An_http_import_runs_as_a_job_and_resumes_after_a_broken_connection(Db db)
    {
        var client = (await servers.GetAsync(db)).Client;
        var name = await client.CreateModelAsync();
        var gguf = TestArtifacts.Gguf(seed: 31);
        var path = $"/files/{Names.Unique("f")}/model.gguf";
        var url = servers.Files.Add(path, new ServedFile(gguf) { StallAfterBytesOnce = gguf.Length / 3 });

        var (id, response) = await StartImportAsync(client, name, $$$"""{"url": "{{{url}}}", "sha256": "{{{TestArtifacts.Sha256(gguf)}}}", "metadata": {"origin": "loopback"}}""");
        response.Dispose();
        var job = await client.WaitForJobAsync(id);
        Assert.True((string?)job["status"] == "succeeded", job.ToJsonString());
        Assert.Equal(100, (double)job["progress"]!);
        Assert.Equal(gguf.Length, (long)job["bytes_done"]!);
        Assert.Equal(gguf.Length, (long)job["bytes_total"]!);
        Assert.Equal(1, (int)job["version"]!);
        Assert.Equal(1, (int)job["result"]!["version"]!);
        Assert.True((bool)job["result"]!["checksum_verified"]!);

        var seen = servers.Files.Requests.Where(r => r.Path == path).ToArray();
        Assert.Equal(2, seen.Length);
        Assert.Null(seen[0].Range);
        Assert.StartsWith("bytes=", seen[1].Range);
        Assert.NotEqual("bytes=0-", seen[1].Range);
        Assert.All(seen, r => Assert.Null(r.Authorization)); // The hub token never goes to other hosts.

        using var version = await client.GetAsync($"api/v1/models/{name}/versions/1");
        var body = await version.JsonAsync(HttpStatusCode.OK);
        Assert.Equal(TestArtifacts.Sha256(gguf), (string?)body["sha256"]);
        Assert.Equal("model.gguf", (string?)body["file_name"]);
        Assert.Equal("loopback", (string?)body["metadata"]!["origin"]);

        using var jobs = await client.GetAsync("api/v1/jobs");
        Assert.Contains((await jobs.JsonAsync(HttpStatusCode.OK))["jobs"]!.AsArray(), j => (string?)j!["id"] == id);
    }

    [Theory]
    [OnSqlite]
    [OnPostgres]
    public async Task A_source_that_ignores_range_is_read_again_from_the_start(Db db)
    {
        var client = (await servers.GetAsync(db)).Client;
        var name = await client.CreateModelAsync();
        var onnx = TestArtifacts.Onnx(seed: 32);
        var url = servers.Files.Add($"/files/{Names.Unique("f")}/net.onnx", new ServedFile(onnx) { StallAfterBytesOnce = 100, IgnoreRange = true });
        var (id, response) = await StartImportAsync(client, name, $$"""{"url": "{{url}}", "filename": "renamed.onnx", "version": 4}""");
        response.Dispose();
        var job = await client.WaitForJobAsync(id);
        Assert.True((string?)job["status"] == "succeeded", job.ToJsonString());
        Assert.False((bool)job["result"]!["checksum_verified"]!);
        using var version = await client.GetAsync($"api/v1/models/{name}/versions/4");
        var body = await version.JsonAsync(HttpStatusCode.OK);
        Assert.Equal(TestArtifacts.Sha256(onnx), (string?)body["sha256"]);
        Assert.Equal("renamed.onnx", (string?)body["file_name"]);
    }

    [Theory]
    [OnSqlite]
    [OnPostgres]
    public async Task Hugging_face_references_resolve_to_the_hub_with_the_token_and_its_checksum(Db db)
    {
        var client = (await servers.GetAsync(db)).Client;
        var name = await client.CreateModelAsync();
        var gguf = TestArtifacts.Gguf(seed: 33);
        var repo = Names.Unique("repo");
        var cdn = $"/cdn/{Names.Unique("blob")}";
        servers.Files.Add(cdn, new ServedFile(gguf));

        // As the hub does: resolve/ redirects to a CDN and says the file's SHA-256 in X-Linked-Etag.
        servers.Files.Add($"/acme/{repo}/resolve/main/weights/tiny.gguf", new ServedFile([])
        {
            RequireBearer = ImportServers.HubToken,
            RedirectTo = new Uri(servers.Files.BaseAddress, cdn.TrimStart('/')).ToString(),
            Headers = new Dictionary<string, string> { ["X-Linked-Etag"] = $"\"{TestArtifacts.Sha256(gguf)}\"" },
        });
        var (id, response) = await StartImportAsync(client, name, $$"""{"url": "hf://acme/{{repo}}/weights/tiny.gguf"}""");
        response.Dispose();
        var job = await client.WaitForJobAsync(id);
        Assert.True((string?)job["status"] == "succeeded", job.ToJsonString());
        Assert.True((bool)job["result"]!["checksum_verified"]!);
        var hub = servers.Files.Requests.Single(r => r.Path == $"/acme/{repo}/resolve/main/weights/tiny.gguf");
        Assert.Equal($"Bearer {ImportServers.HubToken}", hub.Authorization);
        Assert.Null(servers.Files.Requests.Single(r => r.Path == cdn).Authorization);

        // A revision, and a hub checksum that does not match what arrives.
        servers.Files.Add($"/acme/{repo}/resolve/v2/tiny.gguf", new ServedFile(gguf)
        {
            RequireBearer = ImportServers.HubToken,
            Headers = new Dictionary<string, string> { ["X-Linked-Etag"] = $"\"{new string('b', 64)}\"" },
        });
        var (badId, badResponse) = await StartImportAsync(client, name, $$"""{"url": "hf://acme/{{repo}}@v2/tiny.gguf"}""");
        badResponse.Dispose();
        var failed = await client.WaitForJobAsync(badId);
        Assert.Equal("failed", (string?)failed["status"]);
        Assert.Equal("checksum_mismatch", (string?)failed["error"]!["code"]);
        using var versions = await client.GetAsync($"api/v1/models/{name}/versions");
        Assert.Single((await versions.JsonAsync(HttpStatusCode.OK))["versions"]!.AsArray());
    }

    [Theory]
    [OnSqlite]
    [OnPostgres]
    public async Task Failed_imports_say_why_and_leave_no_version(Db db)
    {
        var server = await servers.GetAsync(db);
        var client = server.Client;
        var name = await client.CreateModelAsync();
        var onnx = TestArtifacts.Onnx(seed: 34);
        var good = servers.Files.Add($"/files/{Names.Unique("f")}/m.onnx", new ServedFile(onnx));
        var missing = new Uri(servers.Files.BaseAddress, $"files/{Names.Unique("none")}/m.onnx");
        var notAModel = servers.Files.Add($"/files/{Names.Unique("f")}/notes.onnx", new ServedFile("just some text, not a model"u8.ToArray()));

        // The class's server is shared: a draft of an earlier test's import may still be there, and is not this one's.
        var drafts = Path.Combine(server.DataDir, "tmp", "staging", "drafts");
        var before = Directory.EnumerateFileSystemEntries(drafts).ToHashSet();

        foreach (var (body, code) in new[]
        {
            ($$"""{"url": "{{good}}", "sha256": "{{new string('c', 64)}}"}""", "checksum_mismatch"),
            ($$"""{"url": "{{missing}}"}""", "source_error"),
            ($$"""{"url": "{{notAModel}}"}""", "unknown_format"),
        })
        {
            var (id, response) = await StartImportAsync(client, name, body);
            response.Dispose();
            var job = await client.WaitForJobAsync(id);
            Assert.Equal("failed", (string?)job["status"]);
            Assert.True((string?)job["error"]!["code"] == code, job.ToJsonString());
            Assert.False(string.IsNullOrEmpty((string?)job["error"]!["message"]));
        }

        using (var versions = await client.GetAsync($"api/v1/models/{name}/versions"))
        {
            Assert.Empty((await versions.JsonAsync(HttpStatusCode.OK))["versions"]!.AsArray());
        }

        await Conditions.WaitUntilAsync(() => Directory.EnumerateFileSystemEntries(drafts).All(before.Contains), "the failed imports' drafts are gone");

        foreach (var (body, status, code) in new[]
        {
            ("""{"url": "ftp://example.invalid/m.onnx"}""", HttpStatusCode.BadRequest, "invalid_url"),
            ("""{"url": "hf://only-owner"}""", HttpStatusCode.BadRequest, "invalid_url"),
            ("""{}""", HttpStatusCode.BadRequest, "invalid_url"),
            ($$"""{"url": "{{good}}", "sha256": "xyz"}""", HttpStatusCode.BadRequest, "invalid_sha256"),
            ($$"""{"url": "{{servers.Files.BaseAddress}}"}""", HttpStatusCode.BadRequest, "invalid_filename"),
        })
        {
            using var response = await client.PostAsync($"api/v1/models/{name}/versions:import", Api.Json(body));
            await response.ErrorAsync(status, code);
        }

        using (var noModel = await client.PostAsync("api/v1/models/no-such-model-imp/versions:import", Api.Json($$"""{"url": "{{good}}"}""")))
        {
            await noModel.ErrorAsync(HttpStatusCode.NotFound, "model_not_found");
        }

        await client.UploadAsync(name, onnx, "m.onnx", "?version=50");
        using (var taken = await client.PostAsync($"api/v1/models/{name}/versions:import", Api.Json($$"""{"url": "{{good}}", "version": 50}""")))
        {
            await taken.ErrorAsync(HttpStatusCode.Conflict, "version_exists");
        }

        using var unknownJob = await client.GetAsync("api/v1/jobs/0123456789abcdef01234567");
        await unknownJob.ErrorAsync(HttpStatusCode.NotFound, "job_not_found");
    }

    [Fact]
    public async Task A_url_with_credentials_is_refused_without_repeating_them_and_the_requests_own_mistakes_come_before_the_hosts()
    {
        var client = (await servers.GetAsync(Db.Sqlite)).Client;
        var name = await client.CreateModelAsync();
        var url = servers.Files.Add($"/files/{Names.Unique("f")}/m.onnx", new ServedFile(TestArtifacts.Onnx(seed: 37)));

        // Accepted, the credentials were never sent, and a failed job kept them in its error ("GET http://user:pw@...").
        var withSecret = new UriBuilder(url) { UserName = "deploy", Password = "s3cret-token" }.Uri;
        using (var response = await client.PostAsync($"api/v1/models/{name}/versions:import", Api.Json($$"""{"url": "{{withSecret}}"}""")))
        {
            var error = (await response.ErrorAsync(HttpStatusCode.BadRequest, "invalid_url")).ToJsonString();
            Assert.DoesNotContain("s3cret-token", error, StringComparison.Ordinal);
            Assert.DoesNotContain("deploy", error, StringComparison.Ordinal);
        }

        // A checksum or file name the request gets wrong is said as such, not hidden behind a host that does not resolve.
        foreach (var (body, code) in new[]
        {
            ("""{"url": "https://no-such-host.invalid/m.onnx", "sha256": "xyz"}""", "invalid_sha256"),
            ("""{"url": "https://no-such-host.invalid/m.onnx", "filename": "../m.onnx"}""", "invalid_filename"),
        })
        {
            using var response = await client.PostAsync($"api/v1/models/{name}/versions:import", Api.Json(body));
            await response.ErrorAsync(HttpStatusCode.BadRequest, code);
        }

        using var versions = await client.GetAsync($"api/v1/models/{name}/versions");
        Assert.Empty((await versions.JsonAsync(HttpStatusCode.OK))["versions"]!.AsArray());
        var jobs = await (await client.GetAsync("api/v1/jobs?kind=import&limit=1000")).JsonAsync(HttpStatusCode.OK);
        Assert.DoesNotContain(jobs["jobs"]!.AsArray(), j => (string?)j!["model"] == name);
    }

    [Fact]
    public async Task An_import_into_another_tenants_model_names_it_owner_slash_name()
    {
        var server = await servers.GetAsync(Db.Sqlite);
        var client = server.Client;
        var tenant = await server.NewTenantAsync();

        var name = await client.CreateModelAsync(extra: $$""", "owner": "{{tenant}}" """);
        var url = servers.Files.Add($"/files/{Names.Unique("f")}/m.onnx", new ServedFile(TestArtifacts.Onnx(seed: 37)));
        using var response = await client.PostAsync($"api/v1/models/{tenant}%2F{name}/versions:import", Api.Json($$"""{"url": "{{url}}"}"""));
        var started = await response.JsonAsync(HttpStatusCode.Accepted);
        var id = (string)started["id"]!;
        Assert.Equal($"{tenant}/{name}", (string?)started["model"]);

        // The job names the model as the caller does (this admin is of the default tenant): owner/name, not the
        // default tenant's model of the same short name.
        var job = await client.WaitForJobAsync(id);
        Assert.Equal(("succeeded", $"{tenant}/{name}"), ((string?)job["status"], (string?)job["model"]));
        var listed = await (await client.GetAsync("api/v1/jobs?kind=import&limit=1000")).JsonAsync(HttpStatusCode.OK);
        Assert.Equal($"{tenant}/{name}", (string?)listed["jobs"]!.AsArray().Single(j => (string?)j!["id"] == id)!["model"]);
        Assert.Equal($"{tenant}/{name}", (string?)job["result"]!["model"]);

        // The owner's own key reads its short name, in the job and in its result.
        using var owner = server.CreateClient(await server.NewKeyAsync(tenant, ["models:write"]));
        using var own = await owner.PostAsync($"api/v1/models/{name}/versions:import", Api.Json($$"""{"url": "{{url}}"}"""));
        var ownJob = await owner.WaitForJobAsync((string)(await own.JsonAsync(HttpStatusCode.Accepted))["id"]!);
        Assert.Equal(("succeeded", name, name), ((string?)ownJob["status"], (string?)ownJob["model"], (string?)ownJob["result"]!["model"]));
    }

    [Fact]
    public async Task An_import_jobs_events_are_an_empty_page_not_a_job_that_does_not_exist()
    {
        var client = (await servers.GetAsync(Db.Sqlite)).Client;
        var name = await client.CreateModelAsync();
        var url = servers.Files.Add($"/files/{Names.Unique("f")}/m.onnx", new ServedFile(TestArtifacts.Onnx(seed: 36)));
        var (id, response) = await StartImportAsync(client, name, $$"""{"url": "{{url}}"}""");
        response.Dispose();
        Assert.Equal("succeeded", (string?)(await client.WaitForJobAsync(id))["status"]);

        // GET /api/v1/jobs/{id} shows the job; its events answered 404 "job ... does not exist". Imports keep no event log.
        var page = await (await client.GetAsync($"api/v1/jobs/{id}/events")).JsonAsync(HttpStatusCode.OK);
        Assert.Empty(page["events"]!.AsArray());
        Assert.Equal((0L, true), ((long)page["next_after"]!, (bool)page["finished"]!));

        // Sequence numbers are 64-bit: an after past the 32-bit range is a position, not a 400.
        var far = await (await client.GetAsync($"api/v1/jobs/{id}/events?after=4294967296")).JsonAsync(HttpStatusCode.OK);
        Assert.Equal(4294967296L, (long)far["next_after"]!);
        await (await client.GetAsync($"api/v1/jobs/{id}/events?limit=0")).ErrorAsync(HttpStatusCode.BadRequest, "invalid_query");
        await (await client.GetAsync("api/v1/jobs/0123456789abcdef01234567/events")).ErrorAsync(HttpStatusCode.NotFound, "job_not_found");
    }

    [Theory]
    [OnSqlite]
    [OnPostgres]
    public async Task A_running_import_shows_its_progress_and_can_be_cancelled(Db db)
    {
        var server = await servers.GetAsync(db);
        var client = server.Client;
        var name = await client.CreateModelAsync();
        var big = new byte[4 << 20];
        TestArtifacts.Gguf(seed: 35).CopyTo(big, 0);
        // A source that trickles: 64 chunks of 64 KiB, one every 200 ms, so the job downloads for about 13 s (at 20 ms a
        // chunk it was 1.3 s, which a busy host can spend between reading the progress and cancelling). It cannot be
        // held outright: the importer's stall timeout here is 1 s, five times the pause between two chunks.
        var url = servers.Files.Add($"/files/{Names.Unique("slow")}/slow.gguf", new ServedFile(big) { ChunkDelay = TimeSpan.FromMilliseconds(200) });
        var (id, response) = await StartImportAsync(client, name, $$"""{"url": "{{url}}"}""");
        response.Dispose();

        var running = await Conditions.ReadUntilAsync(
            async () =>
            {
                using var poll = await client.GetAsync($"api/v1/jobs/{id}");
                return await poll.JsonAsync(HttpStatusCode.OK);
            },
            job => job["progress"] is { } progress && (double)progress is > 0 and < 100,
            "the job shows progress between 0 and 100",
            show: job => job.ToJsonString());
        Assert.Equal("running", (string?)running["status"]);
        Assert.Equal(big.Length, (long)running["bytes_total"]!);
        Assert.Equal("downloading", (string?)running["stage"]);

        using (var cancel = await client.DeleteAsync($"api/v1/jobs/{id}"))
        {
            var job = await cancel.JsonAsync(HttpStatusCode.OK);
            Assert.Equal("cancelled", (string?)job["status"]);
            Assert.Equal("cancelled", (string?)job["error"]!["code"]);
        }

        using (var again = await client.DeleteAsync($"api/v1/jobs/{id}"))
        {
            await again.ErrorAsync(HttpStatusCode.Conflict, "job_finished");
        }

        using var versions = await client.GetAsync($"api/v1/models/{name}/versions");
        Assert.Empty((await versions.JsonAsync(HttpStatusCode.OK))["versions"]!.AsArray());
        Assert.Empty(Directory.EnumerateFileSystemEntries(Path.Combine(server.DataDir, "tmp", "staging", "drafts")));
    }
}
