using System.Net;
using Maas.Server.Tests.Support;
using Maas.Server.Tests.Training;
using Maas.Testing;

namespace Maas.Server.Tests.Datasets;

/// <summary>
/// A shared dataset that other tenants trained models from: refusing its deletion names the models its owner may see and
/// only counts other tenants' private ones.
/// </summary>
public sealed class DatasetLineageTenancyTests(TrainingServer servers) : IClassFixture<TrainingServer>
{
    [Fact]
    public async Task Deleting_a_shared_dataset_another_tenants_private_model_was_trained_from_counts_that_model_without_naming_it()
    {
        // used_by listed every model version whose lineage named the dataset: the owner of a shared dataset learnt
        // the names of other tenants' private models trained from it.
        var server = await servers.GetAsync(Db.Sqlite);
        var (owner, ownerTenant) = await TenantClientAsync(server);
        var (other, otherTenant) = await TenantClientAsync(server);
        var dataset = Names.Unique("ds");
        await (await owner.PostAsync("api/v1/datasets", Api.Json($$"""{"name": "{{dataset}}", "visibility": "shared"}"""))).JsonAsync(HttpStatusCode.Created);
        await (await owner.PostAsync($"api/v1/datasets/{dataset}/versions", MaasTestServer.Artifact(LineCsv.Bytes, "line.csv"))).JsonAsync(HttpStatusCode.Created);
        var mine = Names.Unique("mine");
        var secret = Names.Unique("secret");
        foreach (var (client, model) in new[] { (owner, mine), (other, secret) })
        {
            var job = await TrainingApiTests.TrainAsync(client, $$"""{"model": "{{model}}", "dataset": "{{dataset}}:1", "task": "regression", "label": "y", "trainer": "sdca"}""");
            Assert.Equal("succeeded", (string?)job["status"]);
        }

        foreach (var path in new[] { $"api/v1/datasets/{dataset}/versions/1", $"api/v1/datasets/{dataset}" })
        {
            var refused = await (await owner.DeleteAsync(path)).ErrorAsync(HttpStatusCode.Conflict, "dataset_in_use");
            var named = Assert.Single(refused["used_by"]!.AsArray())!;
            Assert.Equal(($"{ownerTenant}/{mine}", 1, 1), ((string?)named["model"], (int)named["version"]!, (int)named["dataset_version"]!));
            Assert.Equal(1, (int)refused["unlisted_model_versions"]!);
            Assert.Contains($"the lineage of {ownerTenant}/{mine} version 1, plus 1 other model version this key may not see", (string?)refused["message"],
                StringComparison.Ordinal);
            Assert.DoesNotContain(secret, refused.ToJsonString(), StringComparison.Ordinal);
        }

        // An admin sees every model: both named.
        var told = await (await server.Client.DeleteAsync($"api/v1/datasets/{dataset}")).ErrorAsync(HttpStatusCode.Conflict, "dataset_in_use");
        Assert.Equal(
            new[] { $"{ownerTenant}/{mine}", $"{otherTenant}/{secret}" }.Order(StringComparer.Ordinal),
            told["used_by"]!.AsArray().Select(u => (string)u!["model"]!).Order(StringComparer.Ordinal));
        Assert.Equal(0, (int)told["unlisted_model_versions"]!);

        // Once the other tenant shares its model, the owner may see it, so it is named too.
        await (await other.PatchAsync($"api/v1/models/{secret}", Api.Json("""{"visibility": "shared"}"""))).JsonAsync(HttpStatusCode.OK);
        var shared = await (await owner.DeleteAsync($"api/v1/datasets/{dataset}")).ErrorAsync(HttpStatusCode.Conflict, "dataset_in_use");
        Assert.Equal(2, shared["used_by"]!.AsArray().Count);
        Assert.Equal(0, (int)shared["unlisted_model_versions"]!);

        // Force deletes it whoever's lineage names it, as before.
        Assert.Equal(HttpStatusCode.NoContent, (await owner.DeleteAsync($"api/v1/datasets/{dataset}?force=true")).StatusCode);
    }

    // A client with a key of a new tenant that may upload datasets, train and change its models.
    private static Task<(HttpClient Client, string Tenant)> TenantClientAsync(MaasTestServer server) =>
        server.TenantClientAsync("datasets:write", "training:write", "training:read", "models:write");
}
