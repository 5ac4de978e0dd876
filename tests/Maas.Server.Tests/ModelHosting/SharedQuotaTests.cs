using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Maas.Server.Tests.Support;
using Maas.Server.Tests.TensorInference;
using Maas.Testing;
using static Maas.Server.Tests.ModelHosting.Placement;

namespace Maas.Server.Tests.ModelHosting;

/// <summary>A tenant's memory quota set on one server and enforced by another sharing its database, on what that one has loaded.</summary>
public sealed class SharedQuotaTests
{
    private static readonly Dictionary<string, string?> Settings = new()
    {
        ["Maas:Auth:ChangePollMs"] = "200",
        ["Maas:Hosting:IdleSweepMs"] = "200",

        // A reload makes room for what the version kept, not its load peak, which other tests in this process inflate.
        ["Maas:Hosting:ReserveLoadPeak"] = "false",
    };

    [Theory]
    [OnSqlite]
    [OnPostgres]
    public async Task A_quota_lowered_on_one_server_evicts_the_tenants_idle_models_that_another_server_has_loaded(Db db)
    {
        using var folder = new TempDirectory("maas-shared-quota");
        await using var database = await TestDatabase.CreateAsync(db);
        await using var first = await MaasTestServer.StartAsync(database, Settings, folder.Path);
        await using var second = await MaasTestServer.StartAsync(database, Settings, folder.Path);
        var tenant = "t" + Guid.NewGuid().ToString("n")[..10];
        var admin = first.Client;
        (await admin.PostAsJsonAsync("/api/v1/tenants", new { name = tenant })).EnsureSuccessStatusCode();
        var created = await admin.PostAsJsonAsync("/api/v1/keys", new { name = "w", tenant, scopes = new[] { "models:write", "infer" } });
        var key = JsonDocument.Parse(await created.Content.ReadAsStringAsync()).RootElement.GetProperty("key").GetString();
        using var onFirst = first.CreateClient(key);
        using var onSecond = second.CreateClient(key);
        await RegisterAsync(onFirst, "q1", TestArtifacts.Onnx(1));
        await RegisterAsync(onFirst, "q2", TestArtifacts.Onnx(2));

        // Both load on the second server only, q1 first (the least recently used).
        async Task<long> LoadAsync(string model)
        {
            var (status, body, _) = await onSecond.PostJsonAsync($"/api/v1/loaded-models/{model}/versions/1:load", "");
            Assert.True(status == HttpStatusCode.OK, body.ToString());
            return body.GetProperty("memory").GetProperty("accounted_bytes").GetInt64();
        }

        var q1 = await LoadAsync("q1");
        var q2 = await LoadAsync("q2");

        // Room for the larger of the two but not both: the second server lets q1 go, the first has nothing to do.
        var quota = q1 + q2 - (Math.Min(q1, q2) / 2);
        var patched = await admin.PatchAsJsonAsync($"/api/v1/tenants/{tenant}", new { limits = new { memory_quota_bytes = quota } });
        Assert.True(patched.IsSuccessStatusCode, await patched.Content.ReadAsStringAsync());
        var list = await WaitForAsync(second.Client, l => Entry(l, $"{tenant}/q1") is null, $"{tenant}/q1 evicted on the second server");
        Assert.Equal("ready", Entry(list, $"{tenant}/q2")!.Value.GetProperty("state").GetString());
        Assert.Equal(1, Sum(await second.Client.GetStringAsync("/metrics"), "maas_model_evictions_total", "cause=\"memory_quota\"", $"model=\"{tenant}/q1\""));
        Assert.Null(Entry(await LoadedAsync(first.Client), $"{tenant}/q2"));

        // The new quota also holds loads there: q1 back takes q2's place; with the quota removed both fit again.
        await LoadAsync("q1");
        list = await LoadedAsync(second.Client);
        Assert.Null(Entry(list, $"{tenant}/q2"));
        patched = await admin.PatchAsJsonAsync($"/api/v1/tenants/{tenant}", new { limits = new { memory_quota_bytes = 0 } });
        Assert.True(patched.IsSuccessStatusCode, await patched.Content.ReadAsStringAsync());
        // Until the second server has seen the removal, a load there is still refused with the old quota (507).
        var refusals = new List<string>();
        await Conditions.ReadUntilAsync(
            async () =>
            {
                refusals.Clear();
                foreach (var model in new[] { "q2", "q1" })
                {
                    var (status, body, _) = await onSecond.PostJsonAsync($"/api/v1/loaded-models/{model}/versions/1:load", "");
                    Assert.True(status is HttpStatusCode.OK or HttpStatusCode.InsufficientStorage, body.ToString());
                    if (status != HttpStatusCode.OK)
                    {
                        refusals.Add(body.ToString());
                    }
                }

                return await LoadedAsync(second.Client);
            },
            loaded => Entry(loaded, $"{tenant}/q1") is not null && Entry(loaded, $"{tenant}/q2") is not null,
            "q1 and q2 are loaded together on the second server after the quota's removal",
            show: loaded => $"{loaded} {string.Join(' ', refusals)}");
    }
}
