using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Maas.Server.Tests.Registry;
using Maas.Server.Tests.Support;
using Maas.Server.Tests.TensorInference;
using static Maas.Server.Tests.ModelHosting.Placement;

namespace Maas.Server.Tests.ModelHosting;

/// <summary>A tenant's memory quota on a server of its own process (measured loads): its own idle models make room, else 507 / 429 with the quota.</summary>
[Collection(ServerProcessCollection.Name)]
public sealed class MemoryQuotaTests
{
    [Fact]
    public async Task A_tenant_stays_under_its_memory_quota_by_evicting_its_own_idle_model_and_is_refused_with_the_quota_when_it_cannot()
    {
        using var data = new TempDirectory("maas-quota");
        await using var server = await MaasServerProcess.StartAsync(data.Path, environment: new Dictionary<string, string> { ["MALLOC_MMAP_THRESHOLD_"] = "131072" });
        var admin = server.Client;
        (await admin.PostAsJsonAsync("/api/v1/tenants", new { name = "acme" })).EnsureSuccessStatusCode();
        var created = await admin.PostAsJsonAsync("/api/v1/keys", new { name = "acme-w", tenant = "acme", scopes = new[] { "models:write", "infer" } });
        using var acme = MaasTestServer.CreateClient(server.BaseAddress, JsonDocument.Parse(await created.Content.ReadAsStringAsync()).RootElement.GetProperty("key").GetString());
        await RegisterAsync(acme, "q1", Model(20));
        await RegisterAsync(acme, "q2", Model(21));
        await RegisterAsync(admin, "house", Model(22));

        var (status, first, _) = await acme.PostJsonAsync("/api/v1/loaded-models/q1/versions/1:load", "");
        Assert.True(status == HttpStatusCode.OK, first.ToString());
        var measured = first.GetProperty("memory").GetProperty("accounted_bytes").GetInt64();

        // Room for one of acme's models, not two: q2 takes q1's place; the default tenant's model does not count.
        var quota = measured * 3 / 2;
        await SetQuotaAsync(admin, quota);
        Assert.Equal(HttpStatusCode.OK, (await InferAsync(acme, "q2")).Status);
        Assert.Equal(HttpStatusCode.OK, (await InferAsync(admin, "house")).Status);
        var list = await LoadedAsync(admin);
        Assert.Null(Entry(list, "acme/q1"));
        Assert.Equal("ready", Entry(list, "acme/q2")!.Value.GetProperty("state").GetString());
        Assert.Equal("ready", Entry(list, "house")!.Value.GetProperty("state").GetString());
        var metrics = await admin.GetStringAsync("/metrics");
        Assert.Equal(1, Sum(metrics, "maas_model_evictions_total", "cause=\"memory_quota\"", "model=\"acme/q1\""));

        // A quota below one model: refused with its value, 507 on the management API and 429 on inference.
        var small = measured / 2;
        await SetQuotaAsync(admin, small);
        var (loadStatus, refusal, _) = await acme.PostJsonAsync("/api/v1/loaded-models/q1/versions/1:load", "");
        Assert.Equal(HttpStatusCode.InsufficientStorage, loadStatus);
        var error = refusal.GetProperty("error");
        Assert.Equal(("memory_quota_exceeded", small), (error.GetProperty("code").GetString(), error.GetProperty("limit_bytes").GetInt64()));
        Assert.Contains(small.ToString(System.Globalization.CultureInfo.InvariantCulture), error.GetProperty("message").GetString(), StringComparison.Ordinal);
        var infer = await InferAsync(acme, "q1");
        Assert.True(infer.Status == HttpStatusCode.TooManyRequests, infer.Body.ToString());
        Assert.Equal(("memory_quota_bytes", small), (infer.Body.GetProperty("limit").GetString(), infer.Body.GetProperty("limit_value").GetInt64()));

        // The quota lowered below what acme has loaded: the host's sweep brings it back under by evicting q2 (idle, unpinned).
        await WaitForAsync(admin, l => Entry(l, "acme/q2") is null, "the sweep's eviction of acme/q2 under the lowered quota");
        Assert.Equal(1, Sum(await admin.GetStringAsync("/metrics"), "maas_model_evictions_total", "cause=\"memory_quota\"", "model=\"acme/q2\""));
        Assert.Equal("ready", Entry(await LoadedAsync(admin), "house")!.Value.GetProperty("state").GetString()); // another tenant's model is not its to evict

        // The quota is a tenant's limit: a key cannot carry one, and it is never negative.
        var onKey = await admin.PostAsJsonAsync("/api/v1/keys", new { name = "k", tenant = "acme", scopes = new[] { "infer" }, limits = new { memory_quota_bytes = 1 } });
        Assert.Equal(HttpStatusCode.BadRequest, onKey.StatusCode);
        Assert.Contains("memory_quota_bytes", await onKey.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        var negative = await admin.PatchAsJsonAsync("/api/v1/tenants/acme", new { limits = new { memory_quota_bytes = -1 } });
        Assert.Equal(HttpStatusCode.BadRequest, negative.StatusCode);
    }

    private static async Task SetQuotaAsync(HttpClient admin, long bytes)
    {
        var response = await admin.PatchAsJsonAsync("/api/v1/tenants/acme", new { limits = new { memory_quota_bytes = bytes } });
        Assert.True(response.IsSuccessStatusCode, await response.Content.ReadAsStringAsync());
    }
}
