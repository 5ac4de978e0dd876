using System.Net;
using Maas.Server.Tests.Support;

namespace Maas.Server.Tests.Registry;

/// <summary>Aliases over HTTP: set, move atomically, compare-and-set races, delete, and reference resolution.</summary>
public sealed class AliasApiTests(ServerPerDb servers) : IClassFixture<ServerPerDb>
{
    private static async Task<string> ModelWithVersionsAsync(HttpClient client, int count)
    {
        var name = await client.CreateModelAsync();
        for (var i = 1; i <= count; i++)
        {
            await client.UploadAsync(name, TestArtifacts.Onnx(seed: i), "model.onnx");
        }

        return name;
    }

    private static async Task<int> ResolveAsync(HttpClient client, string reference)
    {
        using var response = await client.GetAsync($"api/v1/resolve?ref={Uri.EscapeDataString(reference)}");
        return (int)(await response.JsonAsync(HttpStatusCode.OK))["version"]!["version"]!;
    }

    [Theory]
    [OnSqlite]
    [OnPostgres]
    public async Task Aliases_point_at_versions_move_and_resolve(Db db)
    {
        var client = (await servers.GetAsync(db)).Client;
        var name = await ModelWithVersionsAsync(client, 3);

        // No production alias: the plain name is the newest ready version.
        Assert.Equal(3, await ResolveAsync(client, name));
        Assert.Equal(2, await ResolveAsync(client, $"{name}/versions/2"));

        using (var set = await client.PutAsync($"api/v1/models/{name}/aliases/production", Api.Json("""{"version": 1}""")))
        {
            var alias = await set.JsonAsync(HttpStatusCode.OK);
            Assert.Equal("production", (string?)alias["name"]);
            Assert.Equal(1, (int)alias["version"]!);
            Assert.Equal(1, (long)alias["revision"]!);
            Assert.Equal("\"1\"", set.Headers.ETag?.ToString());
        }

        await client.PutAsync($"api/v1/models/{name}/aliases/staging", Api.Json("""{"version": 3}"""));
        Assert.Equal(1, await ResolveAsync(client, name));
        Assert.Equal(1, await ResolveAsync(client, $"{name}:production"));
        Assert.Equal(3, await ResolveAsync(client, $"{name}:staging"));

        using (var moved = await client.PutAsync($"api/v1/models/{name}/aliases/production", Api.Json("""{"version": 2}""")))
        {
            var alias = await moved.JsonAsync(HttpStatusCode.OK);
            Assert.Equal(2, (int)alias["version"]!);
            Assert.Equal(2, (long)alias["revision"]!);
        }

        Assert.Equal(2, await ResolveAsync(client, name));
        using (var listed = await client.GetAsync($"api/v1/models/{name}/aliases"))
        {
            var aliases = (await listed.JsonAsync(HttpStatusCode.OK))["aliases"]!.AsArray();
            Assert.Equal(["production", "staging"], aliases.Select(a => (string?)a!["name"]));
        }

        using (var version = await client.GetAsync($"api/v1/models/{name}/versions/2"))
        {
            Assert.Equal(["production"], (await version.JsonAsync(HttpStatusCode.OK))["aliases"]!.AsArray().Select(a => (string?)a));
        }

        using (var resolved = await client.GetAsync($"api/v1/resolve?ref={name}:staging"))
        {
            var body = await resolved.JsonAsync(HttpStatusCode.OK);
            Assert.Equal("staging", (string?)body["alias"]);
            Assert.Equal($"{name}:staging", (string?)body["reference"]);
        }

        using (var deleted = await client.DeleteAsync($"api/v1/models/{name}/aliases/production"))
        {
            Assert.Equal(HttpStatusCode.NoContent, deleted.StatusCode);
        }

        Assert.Equal(3, await ResolveAsync(client, name));
        using (var gone = await client.GetAsync($"api/v1/resolve?ref={name}:production"))
        {
            await gone.ErrorAsync(HttpStatusCode.NotFound, "alias_not_found");
        }

        using (var again = await client.DeleteAsync($"api/v1/models/{name}/aliases/production"))
        {
            await again.ErrorAsync(HttpStatusCode.NotFound, "alias_not_found");
        }
    }

    [Theory]
    [OnSqlite]
    [OnPostgres]
    public async Task Bad_alias_requests_are_refused(Db db)
    {
        var client = (await servers.GetAsync(db)).Client;
        var name = await ModelWithVersionsAsync(client, 1);
        using (var missingVersion = await client.PutAsync($"api/v1/models/{name}/aliases/production", Api.Json("""{"version": 9}""")))
        {
            await missingVersion.ErrorAsync(HttpStatusCode.NotFound, "version_not_found");
        }

        using (var noVersion = await client.PutAsync($"api/v1/models/{name}/aliases/production", Api.Json("{}")))
        {
            await noVersion.ErrorAsync(HttpStatusCode.BadRequest, "invalid_version");
        }

        using (var badName = await client.PutAsync($"api/v1/models/{name}/aliases/Prod..", Api.Json("""{"version": 1}""")))
        {
            await badName.ErrorAsync(HttpStatusCode.BadRequest, "invalid_name");
        }

        // A delete under "create, never move" is refused, and the alias stays.
        (await client.PutAsync($"api/v1/models/{name}/aliases/keep", Api.Json("""{"version": 1}"""))).Dispose();
        using (var deleteIfAbsent = new HttpRequestMessage(HttpMethod.Delete, $"api/v1/models/{name}/aliases/keep"))
        {
            deleteIfAbsent.Headers.TryAddWithoutValidation("If-None-Match", "*");
            using var refused = await client.SendAsync(deleteIfAbsent);
            await refused.ErrorAsync(HttpStatusCode.BadRequest, "invalid_precondition");
        }

        using (var kept = await client.GetAsync($"api/v1/models/{name}/aliases/keep"))
        {
            Assert.Equal(HttpStatusCode.OK, kept.StatusCode);
        }

        using (var badReference = await client.GetAsync("api/v1/resolve?ref=a/b/c"))
        {
            await badReference.ErrorAsync(HttpStatusCode.BadRequest, "invalid_reference");
        }

        var empty = await client.CreateModelAsync();
        using (var noReady = await client.GetAsync($"api/v1/resolve?ref={empty}"))
        {
            await noReady.ErrorAsync(HttpStatusCode.NotFound, "no_ready_version");
        }

        using var noModel = await client.GetAsync("api/v1/resolve?ref=no-such-model-res:production");
        await noModel.ErrorAsync(HttpStatusCode.NotFound, "model_not_found");
    }

    [Theory]
    [OnSqlite]
    [OnPostgres]
    public async Task Clients_moving_an_alias_at_once_get_one_winner_and_a_409(Db db)
    {
        var server = await servers.GetAsync(db);
        var name = await ModelWithVersionsAsync(server.Client, 4);
        using (var first = await server.Client.PutAsync($"api/v1/models/{name}/aliases/production", Api.Json("""{"version": 1}""")))
        {
            await first.JsonAsync(HttpStatusCode.OK);
        }

        var clients = Enumerable.Range(0, 3).Select(_ => server.CreateClient()).ToArray();
        try
        {
            // Each client read revision 1 and wants to move the alias from there: exactly one may.
            var byRevision = await Task.WhenAll(clients.Select((c, i) =>
            {
                var request = new HttpRequestMessage(HttpMethod.Put, $"api/v1/models/{name}/aliases/production") { Content = Api.Json($$"""{"version": {{i + 2}}}""") };
                request.Headers.TryAddWithoutValidation("If-Match", "\"1\"");
                return c.SendAsync(request);
            }));
            Assert.Single(byRevision, r => r.StatusCode == HttpStatusCode.OK);
            foreach (var loser in byRevision.Where(r => r.StatusCode != HttpStatusCode.OK))
            {
                var error = await loser.ErrorAsync(HttpStatusCode.Conflict, "alias_conflict");
                Assert.Equal(2, (long)error["current_revision"]!);
            }

            var winner = (int)(await byRevision.Single(r => r.StatusCode == HttpStatusCode.OK).JsonAsync(HttpStatusCode.OK))["version"]!;

            // The same race stated by version: "move production from version {winner}".
            var targets = new[] { 1, 2, 3, 4 }.Where(v => v != winner).ToArray();
            var byVersion = await Task.WhenAll(clients.Select((c, i) =>
                c.PutAsync($"api/v1/models/{name}/aliases/production", Api.Json($$"""{"version": {{targets[i]}}, "expected_version": {{winner}}}"""))));
            Assert.Single(byVersion, r => r.StatusCode == HttpStatusCode.OK);
            Assert.Equal(2, byVersion.Count(r => r.StatusCode == HttpStatusCode.Conflict));

            // Creating an alias that must not exist yet: one creates, the others learn it exists.
            var creates = await Task.WhenAll(clients.Select((c, i) =>
            {
                var request = new HttpRequestMessage(HttpMethod.Put, $"api/v1/models/{name}/aliases/canary") { Content = Api.Json($$"""{"version": {{i + 1}}}""") };
                request.Headers.TryAddWithoutValidation("If-None-Match", "*");
                return c.SendAsync(request);
            }));
            Assert.Single(creates, r => r.StatusCode == HttpStatusCode.OK);
            foreach (var loser in creates.Where(r => r.StatusCode != HttpStatusCode.OK))
            {
                await loser.ErrorAsync(HttpStatusCode.Conflict, "alias_exists");
            }

            // A stale delete loses too.
            var stale = new HttpRequestMessage(HttpMethod.Delete, $"api/v1/models/{name}/aliases/production");
            stale.Headers.TryAddWithoutValidation("If-Match", "\"1\"");
            using var staleDelete = await server.Client.SendAsync(stale);
            await staleDelete.ErrorAsync(HttpStatusCode.Conflict, "alias_conflict");

            foreach (var response in byRevision.Concat(byVersion).Concat(creates))
            {
                response.Dispose();
            }
        }
        finally
        {
            foreach (var client in clients)
            {
                client.Dispose();
            }
        }
    }
}
