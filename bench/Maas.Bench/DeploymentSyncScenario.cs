using System.Diagnostics;
using System.Net.Http.Json;
using System.Text;
using Maas.Core.Formats.Onnx;
using Npgsql;

namespace Maas.Bench;

/// <summary>
/// How long a deployment change made on one server takes to be seen by a second server on the same database (one
/// data folder; the SQLite file in it, and with --postgres also a fresh PostgreSQL database, in one run): server A
/// flips a deployment's split between two versions, server B is called back to back until it answers from the new
/// version. Reports the delay from A's 200 to B's first answer naming the new version, and how long A's change itself
/// took. Writes bench/results/deployment-sync.json.
/// </summary>
internal static class DeploymentSyncScenario
{
    private const int Changes = 40;

    public static async Task RunAsync(BenchOptions options)
    {
        // refresh_ms: Maas:Deployments:RefreshMs's default, which the servers run with.
        var numbers = new Dictionary<string, double> { ["changes"] = Changes, ["refresh_ms"] = 250, ["load_average_1m_at_start"] = ScenarioResults.LoadAverage() };
        foreach (var (key, value) in await RunOnAsync(options, []))
        {
            numbers["sqlite." + key] = value;
        }

        if (options.Postgres is { } server)
        {
            // A database of its own, dropped afterwards, on the server the connection string names.
            var database = "maas_bench_sync_" + Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(4));
            await PostgresAsync(server, $"CREATE DATABASE {database}");
            try
            {
                var connection = new NpgsqlConnectionStringBuilder(server) { Database = database }.ConnectionString;
                foreach (var (key, value) in await RunOnAsync(options, ["--Maas:Database:Provider=postgres", $"--Maas:Database:ConnectionString={connection}"]))
                {
                    numbers["postgres." + key] = value;
                }
            }
            finally
            {
                NpgsqlConnection.ClearAllPools();
                await PostgresAsync(server, $"DROP DATABASE IF EXISTS {database} WITH (FORCE)");
            }

            numbers["seen_p50_ratio_postgres_vs_sqlite"] = numbers["postgres.seen_p50_ms"] / numbers["sqlite.seen_p50_ms"];
            numbers["change_p50_ratio_postgres_vs_sqlite"] = numbers["postgres.change_p50_ms"] / numbers["sqlite.change_p50_ms"];
        }

        await ScenarioResults.ReportAsync(options, "deployment-sync", numbers);
    }

    private static async Task PostgresAsync(string connectionString, string sql)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }

    private static async Task<Dictionary<string, double>> RunOnAsync(BenchOptions options, string[] database)
    {
        Console.WriteLine($"deployment-sync: {(database.Length == 0 ? "SQLite" : "PostgreSQL")}");
        var shared = Directory.CreateTempSubdirectory("maas-bench-sync-").FullName;
        try
        {
            string[] args = [$"--Maas:DataDir={shared}", .. database];
            await using var a = await ServerProcess.StartAsync(options, null, args);
            await using var b = await ServerProcess.StartAsync(options, null, args);
            (await a.Client.PostAsJsonAsync("/api/v1/models", new { name = "sync" })).EnsureSuccessStatusCode();
            foreach (var seed in new[] { 1, 2 })
            {
                var content = new ByteArrayContent(OnnxModelWriter.Mlp(4, [8], 3, seed).ToBytes());
                content.Headers.ContentType = new("application/octet-stream");
                content.Headers.Add("X-Maas-Filename", "sync.onnx");
                (await a.Client.PostAsync("/api/v1/models/sync/versions", content)).EnsureSuccessStatusCode();
            }

            (await a.Client.PostAsync("/api/v1/deployments", Json("""{"model": "sync", "traffic": [{"version": 1, "percent": 100}]}"""))).EnsureSuccessStatusCode();
            await UntilAsync(b, "1", TimeSpan.FromSeconds(60));

            var delays = new List<double>();
            var changes = new List<double>();
            var calls = 0L;
            for (var i = 0; i < Changes; i++)
            {
                var version = i % 2 == 0 ? "2" : "1";
                var started = Stopwatch.GetTimestamp();
                using (var response = await a.Client.PatchAsync("/api/v1/deployments/sync", Json($$"""{"traffic": [{"version": {{version}}, "percent": 100}]}""")))
                {
                    response.EnsureSuccessStatusCode();
                }

                var committed = Stopwatch.GetTimestamp();
                changes.Add(Stopwatch.GetElapsedTime(started, committed).TotalMilliseconds);
                calls += await UntilAsync(b, version, TimeSpan.FromSeconds(30));
                delays.Add(Stopwatch.GetElapsedTime(committed).TotalMilliseconds);
            }

            return new Dictionary<string, double>
            {
                ["seen_p50_ms"] = ScenarioResults.Percentile(delays, 0.5),
                ["seen_p95_ms"] = ScenarioResults.Percentile(delays, 0.95),
                ["seen_max_ms"] = delays.Max(),
                ["seen_mean_ms"] = delays.Average(),
                ["change_p50_ms"] = ScenarioResults.Percentile(changes, 0.5),
                ["change_max_ms"] = changes.Max(),
                ["calls_to_b_per_change"] = (double)calls / Changes,
            };
        }
        finally
        {
            Directory.Delete(shared, recursive: true);
        }
    }

    private static StringContent Json(string body) => new(body, Encoding.UTF8, "application/json");

    // Calls the server until an answer names the version; returns how many calls that took.
    private static async Task<long> UntilAsync(ServerProcess server, string version, TimeSpan ceiling)
    {
        const string body = """{"inputs":[{"name":"input","shape":[1,4],"datatype":"FP32","data":[0.5,-1,2,0.25]}]}""";
        var deadline = Stopwatch.GetTimestamp() + (long)(ceiling.TotalSeconds * Stopwatch.Frequency);
        for (long calls = 1; ; calls++)
        {
            using var response = await server.Client.PostAsync("/v2/models/sync/infer", new StringContent(body, Encoding.UTF8, "application/json"));
            if (response.IsSuccessStatusCode && response.Headers.TryGetValues("X-Maas-Model-Version", out var values) && values.Single() == version)
            {
                return calls;
            }

            if (Stopwatch.GetTimestamp() > deadline)
            {
                throw new InvalidOperationException($"the second server did not answer from version {version} within {ceiling}");
            }
        }
    }
}
