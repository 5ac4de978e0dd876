using System.Net;
using Maas.Core.Registry.Import;
using Maas.Server.Tests.Support;
using Maas.Testing;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using static Maas.Testing.Conditions;

namespace Maas.Server.Tests.Registry;

/// <summary>
/// Start-up and periodic recovery beside other live servers on one database and data folder: each server is an
/// instance with a heartbeat (<c>maas_instances</c>), owns its uploading versions, drafts and imports, and recovery
/// cleans only what instances whose heartbeat lapsed (or none) left behind.
/// </summary>
public sealed class SharedRecoveryTests(ImportServers imports) : IClassFixture<ImportServers>
{
    [Theory]
    [OnSqlite]
    [OnPostgres]
    public async Task A_server_starting_beside_a_live_upload_leaves_it_to_finish(Db db)
    {
        await using var database = await TestDatabase.CreateAsync(db);
        using var folder = new TempDirectory("maas-shared-recovery");
        await using var first = await MaasTestServer.StartAsync(database, dataDir: folder.Path);
        var model = await first.Client.CreateModelAsync();

        // An upload on the first server, paused half-way: its version is 'uploading', its bytes staged.
        var body = new GeneratedGgufStream(1 << 20) { PauseAt = 256 << 10 };
        var upload = first.Client.PostAsync($"api/v1/models/{model}/versions", MaasTestServer.Artifact(body, "big.gguf"));
        await body.Paused.Task.WaitAsync(Ceiling);
        await WaitUntilAsync(
            async () => await ScalarAsync(database, folder.Path, "SELECT COUNT(*) FROM model_versions WHERE status = 'uploading'") == 1,
            "the first server to reserve the uploading version");

        // A second server starts on the same database and folder, and recovers.
        await using (var second = await MaasTestServer.StartAsync(database, dataDir: folder.Path))
        {
            Assert.Equal(1, await ScalarAsync(database, folder.Path, "SELECT COUNT(*) FROM model_versions WHERE status = 'uploading'"));
            Assert.Equal(2, await ScalarAsync(database, folder.Path, "SELECT COUNT(*) FROM maas_instances"));
        }

        // The upload goes on and its version is ready, with its bytes.
        body.Resume();
        using var response = await upload.WaitAsync(Ceiling);
        var version = await response.JsonAsync(HttpStatusCode.Created);
        Assert.Equal("ready", (string?)version["status"]);
        Assert.Equal(body.Length, (long)version["size_bytes"]!);

        // The second server stopped cleanly: its instance row went with it.
        Assert.Equal(1, await ScalarAsync(database, folder.Path, "SELECT COUNT(*) FROM maas_instances"));
    }

    [Theory]
    [OnSqlite]
    [OnPostgres]
    public async Task At_start_the_work_of_lapsed_instances_is_cleaned_and_that_of_live_ones_kept(Db db)
    {
        await using var database = await TestDatabase.CreateAsync(db);
        using var folder = new TempDirectory("maas-shared-recovery");
        long modelId;
        string model;
        await using (var earlier = await MaasTestServer.StartAsync(database, dataDir: folder.Path))
        {
            model = await earlier.Client.CreateModelAsync();
            modelId = await ScalarAsync(database, folder.Path, $"SELECT id FROM models WHERE name = '{model}'");
        }

        // A crashed server (its heartbeat a day old), a live one (beating now), and rows from before instances were
        // recorded; each with an uploading version and a running import.
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var dayAgo = now - 86_400_000;
        await ExecuteAsync(database, folder.Path, $"""
            INSERT INTO maas_instances (id, kind, host, started_at, heartbeat_at) VALUES ('crashed', 'server', 'a:1', {dayAgo}, {dayAgo});
            INSERT INTO maas_instances (id, kind, host, started_at, heartbeat_at) VALUES ('alive', 'server', 'b:2', {now}, {now + 3_600_000});
            INSERT INTO model_versions (model_id, version, status, created_by, created_at, instance_id) VALUES ({modelId}, 11, 'uploading', 'tests', {now}, 'crashed');
            INSERT INTO model_versions (model_id, version, status, created_by, created_at, instance_id) VALUES ({modelId}, 12, 'uploading', 'tests', {now}, 'alive');
            INSERT INTO model_versions (model_id, version, status, created_by, created_at, instance_id) VALUES ({modelId}, 13, 'uploading', 'tests', {now}, NULL);
            {JobRow("job-crashed", "'crashed'", now)}
            {JobRow("job-alive", "'alive'", now)}
            {JobRow("job-legacy", "NULL", now)}
            """);
        var drafts = Path.Combine(folder.Path, "tmp", "staging", "drafts");
        Directory.CreateDirectory(Path.Combine(drafts, "crashed-0123"));
        Directory.CreateDirectory(Path.Combine(drafts, "alive-4567"));
        Directory.CreateDirectory(Path.Combine(drafts, "89abcdef89abcdef89abcdef89abcdef")); // an earlier build's draft

        await using var server = await MaasTestServer.StartAsync(database, dataDir: folder.Path);

        Assert.Equal(12, await ScalarAsync(database, folder.Path, "SELECT MIN(version) FROM model_versions WHERE status = 'uploading'"));
        Assert.Equal(1, await ScalarAsync(database, folder.Path, "SELECT COUNT(*) FROM model_versions WHERE status = 'uploading'"));
        Assert.Equal([Path.Combine(drafts, "alive-4567")], Directory.EnumerateFileSystemEntries(drafts));
        Assert.Equal(0, await ScalarAsync(database, folder.Path, "SELECT COUNT(*) FROM maas_instances WHERE id = 'crashed'"));
        Assert.Equal(1, await ScalarAsync(database, folder.Path, "SELECT COUNT(*) FROM maas_instances WHERE id = 'alive'"));
        foreach (var id in new[] { "job-crashed", "job-legacy" })
        {
            var failed = await JobAsync(server, id);
            Assert.Equal("failed", (string?)failed["status"]);
            Assert.Equal("interrupted", (string?)failed["error"]!["code"]);
        }

        Assert.Equal("running", (string?)(await JobAsync(server, "job-alive"))["status"]);
    }

    [Theory]
    [OnSqlite]
    [OnPostgres]
    public async Task While_a_server_runs_the_work_of_an_instance_that_died_meanwhile_is_cleaned_within_a_lapse(Db db)
    {
        await using var database = await TestDatabase.CreateAsync(db);
        using var folder = new TempDirectory("maas-shared-recovery");
        // A short lapse: the periodic recovery runs every lapse.
        var settings = new Dictionary<string, string?> { ["Maas:Instances:HeartbeatMs"] = "100", ["Maas:Instances:LapseMs"] = "2000" };
        await using var server = await MaasTestServer.StartAsync(database, settings, folder.Path);
        var model = await server.Client.CreateModelAsync();
        var modelId = await ScalarAsync(database, folder.Path, $"SELECT id FROM models WHERE name = '{model}'");

        // Another server that died after this one started (so this one's start-up recovery did not see it): its last
        // heartbeat is long past.
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var hourAgo = now - 3_600_000;
        await ExecuteAsync(database, folder.Path, $"""
            INSERT INTO maas_instances (id, kind, host, started_at, heartbeat_at) VALUES ('died', 'server', 'c:3', {hourAgo}, {hourAgo});
            INSERT INTO model_versions (model_id, version, status, created_by, created_at, instance_id) VALUES ({modelId}, 5, 'uploading', 'tests', {now}, 'died');
            {JobRow("job-died", "'died'", now)}
            """);
        var draft = Path.Combine(folder.Path, "tmp", "staging", "drafts", "died-0123");
        Directory.CreateDirectory(draft);

        await WaitUntilAsync(
            async () => await ScalarAsync(database, folder.Path, "SELECT COUNT(*) FROM model_versions WHERE status = 'uploading'") == 0
                && await ScalarAsync(database, folder.Path, "SELECT COUNT(*) FROM maas_instances WHERE id = 'died'") == 0
                && !Directory.Exists(draft),
            "the dead instance's uploading version, draft and row to go");
        var job = await JobAsync(server, "job-died");
        Assert.Equal("failed", (string?)job["status"]);
        Assert.Equal("interrupted", (string?)job["error"]!["code"]);

        // This server's own heartbeat kept it live all along.
        Assert.Equal(1, await ScalarAsync(database, folder.Path, "SELECT COUNT(*) FROM maas_instances"));
    }

    [Fact]
    public async Task An_import_running_on_a_live_server_survives_another_servers_start()
    {
        var first = await imports.GetAsync(Db.Sqlite);
        var name = await first.Client.CreateModelAsync();
        var url = imports.Files.Add($"/files/{Names.Unique("f")}/m.onnx", new ServedFile(TestArtifacts.Onnx(seed: 52)));
        var hold = new ImportHold(ImportStep.BeforeFinishing);
        ImportHold.Install(first, name, hold);
        try
        {
            // Downloaded and staged on the first server, its version 'uploading', the job 'running'.
            var id = await ImportHold.StartImportAsync(first.Client, name, url);
            await hold.Reached;

            await using (var second = await MaasTestServer.StartAsync(dataDir: first.DataDir))
            {
                using var seen = await second.Client.GetAsync($"api/v1/jobs/{id}");
                Assert.Equal("running", (string?)(await seen.JsonAsync(HttpStatusCode.OK))["status"]);
            }

            hold.Release();
            var job = await first.Client.WaitForJobAsync(id);
            Assert.Equal("succeeded", (string?)job["status"]);
            using var versions = await first.Client.GetAsync($"api/v1/models/{name}/versions");
            Assert.Single((await versions.JsonAsync(HttpStatusCode.OK))["versions"]!.AsArray());
        }
        finally
        {
            hold.Release();
        }
    }

    [Theory]
    [InlineData("model")]
    [InlineData("dataset")]
    public async Task A_chunk_whose_session_another_server_expired_meanwhile_is_refused_and_leaves_nothing(string kind)
    {
        using var folder = new TempDirectory("maas-shared-recovery");
        var clock = new AdjustableClock();
        var settings = new Dictionary<string, string?> { ["Maas:Registry:UploadSessionSweepMs"] = "100" };
        await using var first = await MaasTestServer.StartAsync(settings: settings, dataDir: folder.Path, configure: b => b.Services.AddSingleton<TimeProvider>(clock));
        await using var second = await MaasTestServer.StartAsync(settings: settings, dataDir: folder.Path, configure: b => b.Services.AddSingleton<TimeProvider>(clock));
        string uploads, table, sessions;
        if (kind == "model")
        {
            var model = await first.Client.CreateModelAsync();
            (uploads, table, sessions) = ($"api/v1/models/{model}/uploads", "upload_sessions", Path.Combine(folder.Path, "tmp", "staging", "sessions"));
        }
        else
        {
            var dataset = Names.Unique("ds");
            (await first.Client.PostAsync("api/v1/datasets", Api.Json($$"""{"name": "{{dataset}}"}"""))).Dispose();
            (uploads, table, sessions) = ($"api/v1/datasets/{dataset}/uploads", "dataset_upload_sessions", Path.Combine(folder.Path, "tmp", "staging", "datasets", "sessions"));
        }

        string id;
        using (var created = await first.Client.PostAsync(uploads, Api.Json("""{"filename": "rows.csv"}""")))
        {
            id = (string)(await created.JsonAsync(HttpStatusCode.Created))["id"]!;
        }

        var session = kind == "model" ? $"api/v1/uploads/{id}" : $"{uploads}/{id}";

        // A chunk arriving on the first server, paused after some bytes were written to the session's file.
        var file = Path.Combine(sessions, id + ".part");
        var body = new GeneratedGgufStream(256 << 10) { PauseAt = 64 << 10 };
        using var request = new HttpRequestMessage(HttpMethod.Patch, session) { Content = new StreamContent(body) };
        request.Headers.Add("Upload-Offset", "0");
        var chunk = first.Client.SendAsync(request);
        await body.Paused.Task.WaitAsync(Ceiling);
        await WaitUntilAsync(() => File.Exists(file) && new FileInfo(file).Length > 0, "the first server to write bytes of the chunk");

        // The session's time runs out mid-chunk, and the second server's sweep (which cannot see the first server's
        // lock) removes it with its file.
        clock.Advance(TimeSpan.FromHours(25));
        await WaitUntilAsync(async () => await ScalarAsync(folder.Path, $"SELECT COUNT(*) FROM {table}") == 0, "the second server to expire the session");

        body.Resume();
        using var answer = await chunk.WaitAsync(Ceiling);
        await answer.ErrorAsync(HttpStatusCode.NotFound, "upload_not_found");
        Assert.False(File.Exists(file));
        Assert.Equal(0, await ScalarAsync(folder.Path, $"SELECT COUNT(*) FROM storage_reservations WHERE id = '{id}'"));
        using var shown = await first.Client.GetAsync(session);
        await shown.ErrorAsync(HttpStatusCode.NotFound, "upload_not_found");
    }

    private static async Task<long> ScalarAsync(string dataDir, string sql)
    {
        await using var database = await TestDatabase.CreateAsync(Db.Sqlite);
        return await RegistryDatabase.ScalarAsync(database, dataDir, sql);
    }

    private static string JobRow(string id, string instance, long now) =>
        $"INSERT INTO jobs (id, kind, status, model, created_by, created_at, updated_at, instance_id) VALUES ('{id}', 'import', 'running', NULL, 'tests', " +
        $"{now}, {now}, {instance});";

    private static async Task<System.Text.Json.Nodes.JsonNode> JobAsync(MaasTestServer server, string id)
    {
        using var response = await server.Client.GetAsync($"api/v1/jobs/{id}");
        return await response.JsonAsync(HttpStatusCode.OK);
    }

    private static Task<long> ScalarAsync(TestDatabase database, string dataDir, string sql) => RegistryDatabase.ScalarAsync(database, dataDir, sql);

    private static async Task ExecuteAsync(TestDatabase database, string dataDir, string sql)
    {
        if (database.Kind == Db.Postgres)
        {
            await using var pg = new NpgsqlConnection(database.ConnectionString);
            await pg.OpenAsync();
            await using var command = new NpgsqlCommand(sql, pg);
            await command.ExecuteNonQueryAsync();
            return;
        }

        await using var sqlite = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = Path.Combine(dataDir, "registry.db"), Pooling = false }.ToString());
        await sqlite.OpenAsync();
        await using var query = sqlite.CreateCommand();
        query.CommandText = sql;
        await query.ExecuteNonQueryAsync();
    }
}
