using System.Net;
using Maas.Core.Tenancy;
using Maas.Server.Tests.Support;
using Maas.Server.Tests.Tenancy;

namespace Maas.Server.Tests.Registry;

/// <summary>Disk limits: a storage quota per tenant, a free-space floor, and a cap on open upload sessions per tenant.</summary>
public sealed class StorageLimitTests
{
    [Fact]
    public async Task A_tenant_past_its_storage_quota_gets_507_naming_it_and_other_tenants_are_unaffected()
    {
        var onnx = TestArtifacts.Onnx(seed: 81);
        var quota = (onnx.Length * 2) + (onnx.Length / 2); // two versions fit, a third does not
        await using var host = await TenancyHost.StartAsync(new Dictionary<string, string?>
        {
            ["Maas:Registry:TenantStorageQuotaBytes"] = quota.ToString(System.Globalization.CultureInfo.InvariantCulture),
        });
        var (_, _, writer) = await host.TenantWithKeyAsync(MaasScopes.ModelsWrite);
        var (_, _, other) = await host.TenantWithKeyAsync(MaasScopes.ModelsWrite);
        using (writer)
        using (other)
        {
            var name = await writer.CreateModelAsync();
            await writer.UploadAsync(name, onnx, "model.onnx");
            await writer.UploadAsync(name, TestArtifacts.Onnx(seed: 82), "model.onnx");

            // The third would cross the quota while streaming: refused, and nothing is kept.
            using (var third = await writer.PostAsync($"api/v1/models/{name}/versions", MaasTestServer.Artifact(TestArtifacts.Onnx(seed: 83), "model.onnx")))
            {
                var error = await third.ErrorAsync(HttpStatusCode.InsufficientStorage, "storage_quota_exceeded");
                Assert.Equal(quota, (long?)error["limit_bytes"]);
                Assert.Contains($"storage quota of {quota} bytes (Maas:Registry:TenantStorageQuotaBytes)", (string?)error["message"], StringComparison.Ordinal);
            }

            using (var versions = await writer.GetAsync($"api/v1/models/{name}/versions"))
            {
                Assert.Equal(2, (await versions.JsonAsync(HttpStatusCode.OK))["versions"]!.AsArray().Count);
            }

            var elsewhere = await other.CreateModelAsync();
            await other.UploadAsync(elsewhere, onnx, "model.onnx");

            // Deleting a version frees its bytes.
            using (var deleted = await writer.DeleteAsync($"api/v1/models/{name}/versions/1?force=true"))
            {
                Assert.True(deleted.IsSuccessStatusCode, await deleted.Content.ReadAsStringAsync());
            }

            await writer.UploadAsync(name, TestArtifacts.Onnx(seed: 83), "model.onnx");
        }
    }

    [Fact]
    public async Task Below_the_free_space_floor_uploads_and_upload_sessions_get_507_naming_it()
    {
        const long floor = 1L << 60; // more than any disk has free
        await using var server = await MaasTestServer.StartAsync(settings: new Dictionary<string, string?>
        {
            ["Maas:Registry:MinFreeDiskBytes"] = floor.ToString(System.Globalization.CultureInfo.InvariantCulture),
        });
        var client = server.Client;
        var name = await client.CreateModelAsync();
        using (var upload = await client.PostAsync($"api/v1/models/{name}/versions", MaasTestServer.Artifact(TestArtifacts.Onnx(seed: 84), "model.onnx")))
        {
            var error = await upload.ErrorAsync(HttpStatusCode.InsufficientStorage, "insufficient_storage");
            Assert.Equal(floor, (long?)error["floor_bytes"]);
            Assert.Contains($"free-space floor of {floor} bytes (Maas:Registry:MinFreeDiskBytes)", (string?)error["message"], StringComparison.Ordinal);
        }

        using var session = await client.PostAsync($"api/v1/models/{name}/uploads", Api.Json("""{"filename": "model.onnx"}"""));
        await session.ErrorAsync(HttpStatusCode.InsufficientStorage, "insufficient_storage");
    }

    [Fact]
    public async Task Open_upload_sessions_are_capped_per_tenant()
    {
        await using var host = await TenancyHost.StartAsync(new Dictionary<string, string?>
        {
            ["Maas:Registry:MaxUploadSessionsPerTenant"] = "2",
        });
        var (_, _, writer) = await host.TenantWithKeyAsync(MaasScopes.ModelsWrite);
        var (_, _, other) = await host.TenantWithKeyAsync(MaasScopes.ModelsWrite);
        using (writer)
        using (other)
        {
            var name = await writer.CreateModelAsync();
            var ids = new List<string>();
            for (var i = 0; i < 2; i++)
            {
                using var opened = await writer.PostAsync($"api/v1/models/{name}/uploads", Api.Json("""{"filename": "model.onnx"}"""));
                ids.Add((string)(await opened.JsonAsync(HttpStatusCode.Created))["id"]!);
            }

            using (var third = await writer.PostAsync($"api/v1/models/{name}/uploads", Api.Json("""{"filename": "model.onnx"}""")))
            {
                var error = await third.ErrorAsync(HttpStatusCode.TooManyRequests, "too_many_upload_sessions");
                Assert.Equal(2, (int?)error["limit"]);
                Assert.Contains("Maas:Registry:MaxUploadSessionsPerTenant = 2", (string?)error["message"], StringComparison.Ordinal);
            }

            var elsewhere = await other.CreateModelAsync();
            using (var theirs = await other.PostAsync($"api/v1/models/{elsewhere}/uploads", Api.Json("""{"filename": "model.onnx"}""")))
            {
                await theirs.JsonAsync(HttpStatusCode.Created);
            }

            // Deleting a session frees its place.
            using (var deleted = await writer.DeleteAsync($"api/v1/uploads/{ids[0]}"))
            {
                Assert.True(deleted.IsSuccessStatusCode, await deleted.Content.ReadAsStringAsync());
            }

            using var again = await writer.PostAsync($"api/v1/models/{name}/uploads", Api.Json("""{"filename": "model.onnx"}"""));
            await again.JsonAsync(HttpStatusCode.Created);
        }
    }
}
