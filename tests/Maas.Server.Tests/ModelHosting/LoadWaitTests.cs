using System.Net;
using Maas.Server.Tests.Support;
using Maas.Server.Tests.TensorInference;
using Npgsql;
using static Maas.Server.Tests.ModelHosting.Placement;

namespace Maas.Server.Tests.ModelHosting;

/// <summary>Loading on first request: the request waits for the load up to Maas:Hosting:LoadWaitMs, then is refused with that limit while the load goes on.</summary>
public sealed class LoadWaitTests
{
    [Theory]
    [OnPostgres]
    public async Task A_request_waiting_longer_than_the_load_wait_limit_is_refused_with_the_limit_and_the_load_goes_on(Db db)
    {
        await using var database = await TestDatabase.CreateAsync(db);
        var settings = new Dictionary<string, string?>
        {
            ["Maas:Hosting:LoadWaitMs"] = "1",

            // Names resolve once and stay resolved, so the calls below read nothing from the database before their load.
            ["Maas:Inference:ResolveCacheMs"] = "600000",
        };
        await using var server = await MaasTestServer.StartAsync(database, settings);
        var client = server.Client;
        await RegisterAsync(client, "m", TestModels.Mlp(4, [8], 3));
        Assert.Equal(HttpStatusCode.OK, (await client.GetJsonAsync("/v2/models/m")).Status); // resolved, from the registry's signature
        Assert.Null(Entry(await LoadedAsync(client), "m"));

        // A load reads its version's row first: while another transaction holds the table, no load can finish, so
        // the first request outwaits its 1 ms however fast or slow the machine is.
        using var ceiling = new CancellationTokenSource(TimeSpan.FromSeconds(60)); // a call that waits on the lock itself fails instead of hanging
        await using (var holder = new NpgsqlConnection(database.ConnectionString))
        {
            await holder.OpenAsync();
            await using var transaction = await holder.BeginTransactionAsync();
            await using (var lockTable = new NpgsqlCommand("LOCK TABLE model_versions IN ACCESS EXCLUSIVE MODE", holder, transaction))
            {
                await lockTable.ExecuteNonQueryAsync();
            }

            // OIP v2: 503 naming the limit and its value.
            var (status, body, _) = await client.PostJsonAsync("/v2/models/m/infer",
                InferenceHost.InferJson("input", "FP32", [1, 4], new System.Text.Json.Nodes.JsonArray(0.5f, -1f, 2f, 0.25f)), ceiling.Token);
            Assert.True(status == HttpStatusCode.ServiceUnavailable, body.ToString());
            Assert.Equal(("load_wait_ms", 1L), (body.GetProperty("limit").GetString(), body.GetProperty("limit_value").GetInt64()));
            Assert.Contains("did not load within the load wait limit of 1 ms (Maas:Hosting:LoadWaitMs)", body.GetProperty("error").GetString(), StringComparison.Ordinal);

            await transaction.RollbackAsync();
        }

        // The refused request's load went on without it: the version becomes ready, and then answers.
        await WaitForAsync(client, l => Entry(l, "m")?.GetProperty("state").GetString() == "ready", "the load the refused request started");
        Assert.Equal(HttpStatusCode.OK, (await InferAsync(client, "m")).Status);
        var metrics = await client.GetStringAsync("/metrics");
        Assert.Equal(1, Sum(metrics, "maas_model_load_wait_seconds_count", "model=\"m\"", "outcome=\"timeout\""));
        Assert.Equal(0, Sum(metrics, "maas_model_load_wait_seconds_count", "outcome=\"loaded\""));
    }

    [Fact]
    public async Task By_default_a_first_request_waits_for_its_models_load_and_is_answered()
    {
        await using var server = await MaasTestServer.StartAsync();
        var client = server.Client;
        await RegisterAsync(client, "big", Model(3));
        Assert.Null(Entry(await LoadedAsync(client), "big"));

        var (status, output, body) = await InferAsync(client, "big");
        Assert.True(status == HttpStatusCode.OK, body.ToString());
        Assert.Equal(3, output.Length);
        Assert.Equal("ready", Entry(await LoadedAsync(client), "big")!.Value.GetProperty("state").GetString());
        var metrics = await client.GetStringAsync("/metrics");
        Assert.Equal(1, Sum(metrics, "maas_model_load_wait_seconds_count", "model=\"big\"", "outcome=\"loaded\""));
        Assert.Equal(0, Sum(metrics, "maas_model_load_wait_seconds_count", "outcome=\"timeout\""));
    }
}
