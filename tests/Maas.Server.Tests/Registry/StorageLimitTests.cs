using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Maas.Core.Tenancy;
using Maas.Server.Tests.Support;
using Maas.Server.Tests.Tenancy;
using Maas.Testing;

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

    [Theory]
    [OnSqlite]
    [OnPostgres]
    public async Task Datasets_share_the_tenants_storage_quota_with_models_and_past_it_get_the_same_507(Db db)
    {
        var onnx = TestArtifacts.Onnx(seed: 88);
        var first = CsvOfAtLeast(onnx.Length); // a dataset version as big as a model version
        var quota = onnx.Length + first.Length + (onnx.Length / 2); // one of each fits, and not much more
        await using var database = await TestDatabase.CreateAsync(db);
        await using var host = await TenancyHost.StartAsync(
            new Dictionary<string, string?> { ["Maas:Registry:TenantStorageQuotaBytes"] = quota.ToString(CultureInfo.InvariantCulture) },
            database);
        var (_, _, writer) = await host.TenantWithKeyAsync(MaasScopes.ModelsWrite, MaasScopes.DatasetsWrite);
        using (writer)
        {
            var model = await writer.CreateModelAsync();
            await writer.UploadAsync(model, onnx, "model.onnx");
            var dataset = Names.Unique("ds");
            await (await writer.PostAsync("api/v1/datasets", Api.Json($$"""{"name": "{{dataset}}"}"""))).JsonAsync(HttpStatusCode.Created);
            await (await writer.PostAsync($"api/v1/datasets/{dataset}/versions", MaasTestServer.Artifact(first, "first.csv"))).JsonAsync(HttpStatusCode.Created);
            var used = onnx.Length + first.Length;

            void IsQuotaError(JsonNode error)
            {
                Assert.Equal(quota, (long?)error["limit_bytes"]);
                Assert.Equal(used, (long?)error["used_bytes"]);
                Assert.Contains($"storage quota of {quota} bytes (Maas:Registry:TenantStorageQuotaBytes); its models, datasets and files hold {used} bytes",
                    (string?)error["message"], StringComparison.Ordinal);
            }

            // The dataset's bytes count for a model upload: without them a second model version would fit.
            using (var secondModel = await writer.PostAsync($"api/v1/models/{model}/versions", MaasTestServer.Artifact(TestArtifacts.Onnx(seed: 89), "model.onnx")))
            {
                IsQuotaError(await secondModel.ErrorAsync(HttpStatusCode.InsufficientStorage, "storage_quota_exceeded"));
            }

            // A dataset version past the quota is refused as a model version is: raw, announced, and completed.
            var second = CsvOfAtLeast(onnx.Length, start: 1000);
            using (var raw = await writer.PostAsync($"api/v1/datasets/{dataset}/versions", MaasTestServer.Artifact(second, "second.csv")))
            {
                IsQuotaError(await raw.ErrorAsync(HttpStatusCode.InsufficientStorage, "storage_quota_exceeded"));
            }

            using (var announced = await writer.PostAsync($"api/v1/datasets/{dataset}/uploads", Api.Json($$"""{"filename": "second.csv", "size": {{second.Length}}}""")))
            {
                IsQuotaError(await announced.ErrorAsync(HttpStatusCode.InsufficientStorage, "storage_quota_exceeded"));
            }

            string session;
            using (var opened = await writer.PostAsync($"api/v1/datasets/{dataset}/uploads", Api.Json("""{"filename": "second.csv"}""")))
            {
                session = (string)(await opened.JsonAsync(HttpStatusCode.Created))["id"]!;
            }

            // A session without a size: its chunk is held to the quota as it arrives, not only at completion.
            var chunk = new HttpRequestMessage(HttpMethod.Patch, $"api/v1/datasets/{dataset}/uploads/{session}") { Content = new ByteArrayContent(second) };
            chunk.Headers.Add("Upload-Offset", "0");
            using (var sent = await writer.SendAsync(chunk))
            {
                IsQuotaError(await sent.ErrorAsync(HttpStatusCode.InsufficientStorage, "storage_quota_exceeded"));
            }

            using (var completed = await writer.PostAsync($"api/v1/datasets/{dataset}/versions?upload={session}", null))
            {
                await completed.ErrorAsync(HttpStatusCode.BadRequest, "empty_upload"); // the refused chunk left nothing behind
            }

            using (var versions = await writer.GetAsync($"api/v1/datasets/{dataset}/versions"))
            {
                Assert.Single((await versions.JsonAsync(HttpStatusCode.OK))["versions"]!.AsArray());
            }

            // Deleting the dataset version frees its bytes for either kind.
            using (var deleted = await writer.DeleteAsync($"api/v1/datasets/{dataset}/versions/1"))
            {
                Assert.Equal(HttpStatusCode.NoContent, deleted.StatusCode);
            }

            await (await writer.PostAsync($"api/v1/datasets/{dataset}/versions", MaasTestServer.Artifact(second, "second.csv"))).JsonAsync(HttpStatusCode.Created);
        }
    }

    [Fact]
    public async Task Files_uploaded_for_fine_tuning_count_in_the_tenants_storage_and_past_it_get_openais_429_insufficient_quota()
    {
        var onnx = TestArtifacts.Onnx(seed: 90);
        var file = ChatsOfAtLeast(onnx.Length); // a file as big as a model version
        var quota = file.Length + (onnx.Length / 2); // the file fits, and not much more
        await using var host = await TenancyHost.StartAsync(new Dictionary<string, string?>
        {
            ["Maas:Registry:TenantStorageQuotaBytes"] = quota.ToString(CultureInfo.InvariantCulture),
        });
        var (_, _, writer) = await host.TenantWithKeyAsync(MaasScopes.ModelsWrite, MaasScopes.TrainingWrite, MaasScopes.TrainingRead);
        using (writer)
        {
            var id = (string)(await (await writer.PostAsync("v1/files", FileUpload(file))).JsonAsync(HttpStatusCode.OK))["id"]!;
            var used = file.Length;

            // The file's bytes count for a model upload: without them the model version would fit.
            var model = await writer.CreateModelAsync();
            using (var refused = await writer.PostAsync($"api/v1/models/{model}/versions", MaasTestServer.Artifact(onnx, "model.onnx")))
            {
                var error = await refused.ErrorAsync(HttpStatusCode.InsufficientStorage, "storage_quota_exceeded");
                Assert.Equal(quota, (long?)error["limit_bytes"]);
                Assert.Equal(used, (long?)error["used_bytes"]);
                Assert.Contains($"its models, datasets and files hold {used} bytes", (string?)error["message"], StringComparison.Ordinal);
            }

            // A second file past the quota: OpenAI's shape and the /v1 quota refusal (429 insufficient_quota), not 507.
            var second = ChatsOfAtLeast(onnx.Length, seed: 1);
            using (var over = await writer.PostAsync("v1/files", FileUpload(second)))
            {
                var text = await over.Content.ReadAsStringAsync();
                Assert.True(over.StatusCode == HttpStatusCode.TooManyRequests, $"expected 429, got {(int)over.StatusCode}: {text}");
                var error = JsonNode.Parse(text)!["error"]!;
                Assert.Equal("insufficient_quota", (string?)error["type"]);
                Assert.Equal("storage_quota_exceeded", (string?)error["code"]);
                Assert.Equal(["false"], over.Headers.GetValues("x-should-retry")); // OpenAI's clients would send it twice more
                Assert.Equal(quota, (long?)error["limit_bytes"]);
                Assert.Equal(used, (long?)error["used_bytes"]);
                Assert.Contains(
                    $"storage quota of {quota} bytes (Maas:Registry:TenantStorageQuotaBytes); its models, datasets and files hold {used} bytes",
                    (string?)error["message"],
                    StringComparison.Ordinal);
            }

            var list = await (await writer.GetAsync("v1/files")).JsonAsync(HttpStatusCode.OK);
            Assert.Single(list["data"]!.AsArray());

            // Deleting the file frees its bytes.
            await (await writer.DeleteAsync($"v1/files/{id}")).JsonAsync(HttpStatusCode.OK);
            await (await writer.PostAsync("v1/files", FileUpload(second))).JsonAsync(HttpStatusCode.OK);
        }
    }

    // Chat fine-tuning data (JSON Lines) of at least that many bytes; seeds give different files.
    private static byte[] ChatsOfAtLeast(int bytes, int seed = 0)
    {
        var text = new StringBuilder();
        for (var i = 0; text.Length < bytes; i++)
        {
            text.Append(CultureInfo.InvariantCulture,
                $$"""{"messages": [{"role": "user", "content": "question {{seed}}-{{i}}"}, {"role": "assistant", "content": "answer {{i}}"}]}""").Append('\n');
        }

        return Encoding.UTF8.GetBytes(text.ToString());
    }

    private static MultipartFormDataContent FileUpload(byte[] content)
    {
        var form = new MultipartFormDataContent { { new StringContent("fine-tune"), "purpose" } };
        form.Add(new ByteArrayContent(content), "file", "chats.jsonl");
        return form;
    }

    // A CSV of at least that many bytes, its values from start on (so two of them differ).
    private static byte[] CsvOfAtLeast(int bytes, int start = 0)
    {
        var text = new StringBuilder("x,label\n");
        for (var i = start; text.Length < bytes; i++)
        {
            text.Append(CultureInfo.InvariantCulture, $"{i},{(i % 2 == 0 ? "even" : "odd")}\n");
        }

        return Encoding.UTF8.GetBytes(text.ToString());
    }

    [Fact]
    public async Task An_admin_sets_a_tenants_own_storage_quota_which_overrides_the_server_default()
    {
        var onnx = TestArtifacts.Onnx(seed: 85);
        var quota = onnx.Length + (onnx.Length / 2); // one version fits, a second does not
        await using var host = await TenancyHost.StartAsync(new Dictionary<string, string?>
        {
            ["Maas:Registry:TenantStorageQuotaBytes"] = "100", // less than one version: the default would refuse
        });
        var (tenant, _, writer) = await host.TenantWithKeyAsync(MaasScopes.ModelsWrite);
        var (_, _, other) = await host.TenantWithKeyAsync(MaasScopes.ModelsWrite);
        using (writer)
        using (other)
        {
            using (var set = await host.Admin.PatchAsync($"api/v1/tenants/{tenant}", Api.Json($$$"""{"limits": {"storage_quota_bytes": {{{quota}}}}}""")))
            {
                var body = await set.JsonAsync(HttpStatusCode.OK);
                Assert.Equal(quota, (long?)body["limits"]!["storage_quota_bytes"]);
            }

            var name = await writer.CreateModelAsync();
            await writer.UploadAsync(name, onnx, "model.onnx");
            using (var second = await writer.PostAsync($"api/v1/models/{name}/versions", MaasTestServer.Artifact(TestArtifacts.Onnx(seed: 86), "model.onnx")))
            {
                var error = await second.ErrorAsync(HttpStatusCode.InsufficientStorage, "storage_quota_exceeded");
                Assert.Equal(quota, (long?)error["limit_bytes"]);
                Assert.Contains($"storage quota of {quota} bytes (the tenant's limits.storage_quota_bytes)", (string?)error["message"], StringComparison.Ordinal);
            }

            // Every other tenant keeps the server's default.
            var elsewhere = await other.CreateModelAsync();
            using (var refused = await other.PostAsync($"api/v1/models/{elsewhere}/versions", MaasTestServer.Artifact(onnx, "model.onnx")))
            {
                var error = await refused.ErrorAsync(HttpStatusCode.InsufficientStorage, "storage_quota_exceeded");
                Assert.Contains("storage quota of 100 bytes (Maas:Registry:TenantStorageQuotaBytes)", (string?)error["message"], StringComparison.Ordinal);
            }

            // 0 exempts the tenant; a key cannot carry the limit; a tenant's own key cannot set it.
            using (var exempt = await host.Admin.PatchAsync($"api/v1/tenants/{tenant}", Api.Json("""{"limits": {"storage_quota_bytes": 0}}""")))
            {
                await exempt.JsonAsync(HttpStatusCode.OK);
            }

            await writer.UploadAsync(name, TestArtifacts.Onnx(seed: 86), "model.onnx");
            using (var onKey = await host.Admin.PostAsync("api/v1/keys",
                Api.Json($$$"""{"name": "k", "tenant": "{{{tenant}}}", "scopes": ["infer"], "limits": {"storage_quota_bytes": 5}}""")))
            {
                var error = await onKey.ErrorAsync(HttpStatusCode.BadRequest, "invalid_limits");
                Assert.Contains("storage_quota_bytes is a tenant's limit", (string?)error["message"], StringComparison.Ordinal);
            }

            using (var negative = await host.Admin.PatchAsync($"api/v1/tenants/{tenant}", Api.Json("""{"limits": {"storage_quota_bytes": -1}}""")))
            {
                await negative.ErrorAsync(HttpStatusCode.BadRequest, "invalid_limits");
            }

            using (var byTenant = await writer.PatchAsync($"api/v1/tenants/{tenant}", Api.Json("""{"limits": {"storage_quota_bytes": 0}}""")))
            {
                Assert.Equal(HttpStatusCode.Forbidden, byTenant.StatusCode);
            }
        }
    }

    [Fact]
    public async Task Multipart_uploads_are_capped_in_parts_and_form_field_bytes()
    {
        await using var server = await MaasTestServer.StartAsync(settings: new Dictionary<string, string?>
        {
            ["Maas:Multipart:MaxParts"] = "3",
            ["Maas:Multipart:MaxFieldBytes"] = "2048",
            ["Maas:Multipart:MaxFieldsBytes"] = "3072",
        });
        var client = server.Client;
        var name = await client.CreateModelAsync();
        var onnx = TestArtifacts.Onnx(seed: 87);

        async Task<System.Text.Json.Nodes.JsonNode> RefusedAsync(MultipartFormDataContent form, string limit)
        {
            using var response = await client.PostAsync($"api/v1/models/{name}/versions", form);
            var error = await response.ErrorAsync(HttpStatusCode.BadRequest, "multipart_limit");
            Assert.Contains($"(Maas:Multipart:{limit})", (string?)error["message"], StringComparison.Ordinal);
            return error;
        }

        using (var many = new MultipartFormDataContent())
        {
            for (var i = 0; i < 4; i++)
            {
                many.Add(new StringContent("x"), $"field{i}");
            }

            Assert.Equal(3, (long?)(await RefusedAsync(many, "MaxParts"))["limit"]);
        }

        using (var longField = new MultipartFormDataContent { { new StringContent(new string('m', 3000)), "metadata" } })
        {
            var error = await RefusedAsync(longField, "MaxFieldBytes");
            Assert.Contains("the form field 'metadata' is longer than 2048 bytes", (string?)error["message"], StringComparison.Ordinal);
        }

        using (var fields = new MultipartFormDataContent { { new StringContent(new string('a', 2000)), "a" }, { new StringContent(new string('b', 2000)), "b" } })
        {
            Assert.Equal(3072, (long?)(await RefusedAsync(fields, "MaxFieldsBytes"))["limit"]);
        }

        // Within the caps, an upload goes through, and nothing was kept of the refused ones.
        using var ok = new MultipartFormDataContent
        {
            { new StringContent("""{"source": "capped"}"""), "metadata" },
            { new ByteArrayContent(onnx), "file", "model.onnx" },
        };
        var version = await (await client.PostAsync($"api/v1/models/{name}/versions", ok)).JsonAsync(HttpStatusCode.Created);
        Assert.Equal(1, (int?)version["version"]);
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

        using (var session = await client.PostAsync($"api/v1/models/{name}/uploads", Api.Json("""{"filename": "model.onnx"}""")))
        {
            await session.ErrorAsync(HttpStatusCode.InsufficientStorage, "insufficient_storage");
        }

        // Dataset versions are stored on the same disk and held to the same floor.
        var dataset = Names.Unique("ds");
        await (await client.PostAsync("api/v1/datasets", Api.Json($$"""{"name": "{{dataset}}"}"""))).JsonAsync(HttpStatusCode.Created);
        using (var upload = await client.PostAsync($"api/v1/datasets/{dataset}/versions", MaasTestServer.Artifact(CsvOfAtLeast(100), "data.csv")))
        {
            var error = await upload.ErrorAsync(HttpStatusCode.InsufficientStorage, "insufficient_storage");
            Assert.Equal(floor, (long?)error["floor_bytes"]);
        }

        using var datasetSession = await client.PostAsync($"api/v1/datasets/{dataset}/uploads", Api.Json("""{"filename": "data.csv"}"""));
        await datasetSession.ErrorAsync(HttpStatusCode.InsufficientStorage, "insufficient_storage");
    }

    [Fact]
    public async Task Chunks_of_sessions_opened_before_the_disk_fell_below_its_floor_get_507_too()
    {
        // Sessions opened on a server with room; their chunks arrive at a server on the same data folder whose floor
        // the disk is below (as when the disk fills while the sessions are open).
        await using var roomy = await MaasTestServer.StartAsync();
        const long floor = 1L << 60;
        await using var full = await MaasTestServer.StartAsync(
            settings: new Dictionary<string, string?> { ["Maas:Registry:MinFreeDiskBytes"] = floor.ToString(System.Globalization.CultureInfo.InvariantCulture) },
            dataDir: roomy.DataDir);
        var name = await roomy.Client.CreateModelAsync();
        var dataset = Names.Unique("ds");
        await (await roomy.Client.PostAsync("api/v1/datasets", Api.Json($$"""{"name": "{{dataset}}"}"""))).JsonAsync(HttpStatusCode.Created);
        foreach (var (open, chunkPath, body) in new[]
        {
            ($"api/v1/models/{name}/uploads", "api/v1/uploads/{0}", TestArtifacts.Onnx(seed: 85)),
            ($"api/v1/datasets/{dataset}/uploads", $"api/v1/datasets/{dataset}/uploads/{{0}}", CsvOfAtLeast(100)),
        })
        {
            using var opened = await roomy.Client.PostAsync(open,
                Api.Json(open.Contains("datasets", StringComparison.Ordinal) ? """{"filename": "data.csv"}""" : """{"filename": "model.onnx"}"""));
            var id = (string)(await opened.JsonAsync(HttpStatusCode.Created))["id"]!;
            using var chunk = new HttpRequestMessage(HttpMethod.Patch,
                string.Format(System.Globalization.CultureInfo.InvariantCulture, chunkPath, id))
            { Content = new ByteArrayContent(body) };
            chunk.Headers.Add("Upload-Offset", "0");
            using var refused = await full.Client.SendAsync(chunk);
            var error = await refused.ErrorAsync(HttpStatusCode.InsufficientStorage, "insufficient_storage");
            Assert.Equal(floor, (long?)error["floor_bytes"]);

            // Nothing of the refused chunk was kept: the session is where it was.
            using var state = await roomy.Client.GetAsync(string.Format(System.Globalization.CultureInfo.InvariantCulture, chunkPath, id));
            Assert.Equal(0, (long?)(await state.JsonAsync(HttpStatusCode.OK))["offset"]);
        }
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
