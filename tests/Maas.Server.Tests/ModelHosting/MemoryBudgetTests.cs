using System.Globalization;
using System.Net;
using Maas.Server.Tests.Registry;
using Maas.Server.Tests.Support;
using static Maas.Server.Tests.ModelHosting.Placement;

namespace Maas.Server.Tests.ModelHosting;

/// <summary>
/// The memory budget on a server of its own process (so the resident growth measured at a load is that model's):
/// more models than fit keep being served by eviction and reload, and a pinned model is never evicted.
/// </summary>
[Collection(ServerProcessCollection.Name)]
public sealed class MemoryBudgetTests
{
    [Fact]
    public async Task A_budget_smaller_than_three_models_keeps_serving_all_three_by_evicting_and_reloading_them()
    {
        using var data = new TempDirectory("maas-budget");
        var models = new Dictionary<string, byte[]> { ["a"] = Model(1), ["b"] = Model(2), ["c"] = Model(3) };
        var size = models["a"].Length;
        long measured;
        await using (var first = await MaasServerProcess.StartAsync(data.Path, environment: Malloc))
        {
            await RegisterAsync(first.Client, "warm", TestModelsTiny());
            foreach (var (name, bytes) in models)
            {
                await RegisterAsync(first.Client, name, bytes);
            }

            // The first ONNX load of the process maps the runtime's library; a tiny model takes that first.
            Assert.Equal(HttpStatusCode.OK, (await InferAsync(first.Client, "warm")).Status);
            Assert.Equal(HttpStatusCode.OK, (await InferAsync(first.Client, "a")).Status);
            var memory = Entry(await LoadedAsync(first.Client), "a")!.Value.GetProperty("memory");

            // Measured, not guessed: the anonymous memory the process grew by holds at least the 17 MB of weights.
            Assert.True(memory.GetProperty("private_bytes").GetInt64() >= size, $"{size} bytes of weights, measured {memory}");
            Assert.Equal(Math.Max(size, memory.GetProperty("resident_delta_bytes").GetInt64()), memory.GetProperty("accounted_bytes").GetInt64());
            measured = memory.GetProperty("accounted_bytes").GetInt64();
            await first.StopAsync();
        }

        // Room for two of them as measured, not for three.
        var budget = measured * 5 / 2;
        await using var server = await MaasServerProcess.StartAsync(data.Path,
            new Dictionary<string, string?> { ["Maas:Hosting:MemoryBudgetBytes"] = budget.ToString(CultureInfo.InvariantCulture) }, environment: Malloc);
        var client = server.Client;
        Assert.Equal(HttpStatusCode.OK, (await InferAsync(client, "warm")).Status);

        var expected = new Dictionary<string, float[]>();
        for (var round = 0; round < 3; round++)
        {
            foreach (var name in models.Keys)
            {
                var (status, output, body) = await InferAsync(client, name);
                Assert.True(status == HttpStatusCode.OK, $"round {round}, {name}: {(int)status} {body}");
                if (round == 0)
                {
                    expected[name] = output;
                }
                else
                {
                    Assert.Equal(expected[name], output);
                }

                var list = await LoadedAsync(client);
                Assert.True(list.GetProperty("accounted_bytes").GetInt64() <= budget, $"over the budget of {budget}: {list}");
            }
        }

        var final = await LoadedAsync(client);
        var evictions = final.GetProperty("evictions").GetInt64();
        var reloads = final.GetProperty("reloads").GetInt64();
        Assert.True(evictions >= 3 && reloads >= 3, final.ToString()); // at most two fit: each round evicts and reloads
        Assert.Equal(final.GetProperty("loads").GetInt64(), 4 + reloads);

        var metrics = await client.GetStringAsync("/metrics");
        Assert.Equal(evictions, Sum(metrics, "maas_model_evictions_total", "cause=\"memory_budget\""));
        Assert.Equal(reloads, Sum(metrics, "maas_model_reloads_total"));
        Assert.True(Sum(metrics, "maas_model_load_wait_seconds_count", "outcome=\"loaded\"") >= 4 + reloads, metrics);
        Assert.True(Sum(metrics, "maas_model_memory_bytes", "kind=\"private\"") > 0, metrics);
    }

    [Fact]
    public async Task A_pinned_model_loads_at_start_and_is_never_evicted_while_three_others_take_turns()
    {
        using var data = new TempDirectory("maas-pin-budget");
        long measured;
        long peak;
        await using (var first = await MaasServerProcess.StartAsync(data.Path, environment: Malloc))
        {
            await RegisterAsync(first.Client, "warm", TestModelsTiny());
            await RegisterAsync(first.Client, "p", Model(10), new { pinned = true });
            await RegisterAsync(first.Client, "a", Model(11));
            await RegisterAsync(first.Client, "b", Model(12));
            await RegisterAsync(first.Client, "c", Model(13));
            Assert.Equal(HttpStatusCode.OK, (await InferAsync(first.Client, "warm")).Status);
            Assert.Equal(HttpStatusCode.OK, (await InferAsync(first.Client, "a")).Status);
            var memory = Entry(await LoadedAsync(first.Client), "a")!.Value.GetProperty("memory");
            measured = memory.GetProperty("accounted_bytes").GetInt64();
            peak = Math.Max(measured, memory.GetProperty("load_peak_bytes").GetInt64());
            await first.StopAsync();
        }

        // Room for the pinned model and the load of one more (room is made for a reload's peak, about twice a loaded
        // model), so for about two of the three others loaded, not for all four.
        var budget = measured + peak + (measured / 2);
        await using var server = await MaasServerProcess.StartAsync(data.Path,
            new Dictionary<string, string?> { ["Maas:Hosting:MemoryBudgetBytes"] = budget.ToString(CultureInfo.InvariantCulture) }, environment: Malloc);
        var client = server.Client;
        var started = await WaitForAsync(client, l => Entry(l, "p")?.GetProperty("state").GetString() == "ready", "the pinned model's load at start");
        Assert.Null(Entry(started, "a"));
        var pinned = Entry(started, "p")!.Value;
        Assert.True(pinned.GetProperty("pinned").GetBoolean());
        var loadedAt = pinned.GetProperty("loaded_at").GetDateTimeOffset();

        for (var round = 0; round < 3; round++)
        {
            foreach (var name in new[] { "a", "b", "c" })
            {
                var (status, _, body) = await InferAsync(client, name);
                Assert.True(status == HttpStatusCode.OK, $"round {round}, {name}: {(int)status} {body}");
                var p = Entry(await LoadedAsync(client), "p");
                Assert.True(p?.GetProperty("state").GetString() == "ready", $"the pinned model is no longer loaded after {name} in round {round}");
                Assert.Equal(loadedAt, p!.Value.GetProperty("loaded_at").GetDateTimeOffset());
            }
        }

        var final = await LoadedAsync(client);
        Assert.True(final.GetProperty("evictions").GetInt64() >= 3, final.ToString());
        var metrics = await client.GetStringAsync("/metrics");
        Assert.True(Sum(metrics, "maas_model_evictions_total", "model=\"a\"") >= 2, metrics);
        Assert.Equal(0, Sum(metrics, "maas_model_evictions_total", "model=\"p\""));
    }

    // glibc returns a freed block this large to the system at once (no dynamic threshold), so what a load measures
    // is what the model keeps, not what an earlier load left behind for it to reuse.
    private static readonly Dictionary<string, string> Malloc = new() { ["MALLOC_MMAP_THRESHOLD_"] = "131072" };

    private static byte[] TestModelsTiny() => TensorInference.TestModels.Mlp(4, [8], 3);
}
