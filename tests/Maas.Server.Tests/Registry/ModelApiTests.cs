using System.Net;
using System.Text.Json.Nodes;
using Maas.Server.Tests.Support;

namespace Maas.Server.Tests.Registry;

/// <summary>Models over HTTP: create, show, list and search, change, delete, serving configuration, and bad input.</summary>
public sealed class ModelApiTests(ServerPerDb servers) : IClassFixture<ServerPerDb>
{
    [Theory]
    [OnSqlite]
    [OnPostgres]
    public async Task Create_show_update_and_delete_a_model(Db db)
    {
        var client = (await servers.GetAsync(db)).Client;
        var name = Names.Unique("resnet");
        using var created = await client.PostAsync("api/v1/models", Api.Json($$"""
            {"name": "{{name}}", "description": "image classifier", "tags": ["vision", "prod"], "task": "image-classification", "visibility": "shared"}
            """));
        var model = await created.JsonAsync(HttpStatusCode.Created);
        Assert.Equal($"/api/v1/models/{name}", created.Headers.Location?.ToString());
        Assert.Equal(name, (string?)model["name"]);
        Assert.Equal("image classifier", (string?)model["description"]);
        Assert.Equal(["vision", "prod"], model["tags"]!.AsArray().Select(t => (string?)t));
        Assert.Equal("image-classification", (string?)model["task"]);
        Assert.Equal("shared", (string?)model["visibility"]);
        Assert.Equal("default", (string?)model["owner"]);
        Assert.False(string.IsNullOrEmpty((string?)model["created_by"]));
        Assert.Null(model["latest_version"]);

        using (var shown = await client.GetAsync($"api/v1/models/{name}"))
        {
            var body = await shown.JsonAsync(HttpStatusCode.OK);
            Assert.Empty(body["versions"]!.AsArray());
            Assert.Empty(body["aliases"]!.AsArray());
        }

        using (var patched = await client.PatchAsync($"api/v1/models/{name}", Api.Json("""{"description": "v2", "tags": ["vision"], "visibility": "private"}""")))
        {
            var body = await patched.JsonAsync(HttpStatusCode.OK);
            Assert.Equal("v2", (string?)body["description"]);
            Assert.Equal(["vision"], body["tags"]!.AsArray().Select(t => (string?)t));
            Assert.Equal("private", (string?)body["visibility"]);
            Assert.Equal("image-classification", (string?)body["task"]);
        }

        using (var deleted = await client.DeleteAsync($"api/v1/models/{name}"))
        {
            Assert.Equal(HttpStatusCode.NoContent, deleted.StatusCode);
        }

        using var gone = await client.GetAsync($"api/v1/models/{name}");
        await gone.ErrorAsync(HttpStatusCode.NotFound, "model_not_found");
    }

    [Theory]
    [OnSqlite]
    [OnPostgres]
    public async Task A_taken_name_is_a_conflict(Db db)
    {
        var client = (await servers.GetAsync(db)).Client;
        var name = await client.CreateModelAsync();
        using var again = await client.PostAsync("api/v1/models", Api.Json($$"""{"name": "{{name}}"}"""));
        await again.ErrorAsync(HttpStatusCode.Conflict, "model_exists");
    }

    [Theory]
    [OnSqlite]
    [OnPostgres]
    public async Task Search_by_name_tag_task_and_format(Db db)
    {
        var client = (await servers.GetAsync(db)).Client;
        var stem = Names.Unique("search");
        var tag = Names.Unique("tag");
        var onnx = await client.CreateModelAsync($"{stem}-onnx", $$""", "tags": ["{{tag}}", "vision"], "task": "object-detection" """);
        var gguf = await client.CreateModelAsync($"{stem}-gguf", $$""", "tags": ["{{tag}}", "chat"], "task": "text-generation" """);
        var empty = await client.CreateModelAsync($"{stem}-empty", $$""", "tags": ["{{tag}}"] """);
        await client.UploadAsync(onnx, TestArtifacts.Onnx(), "model.onnx");
        await client.UploadAsync(gguf, TestArtifacts.Gguf(), "model.gguf");

        async Task<string[]> Find(string query)
        {
            using var response = await client.GetAsync("api/v1/models?" + query);
            var body = await response.JsonAsync(HttpStatusCode.OK);
            var names = body["models"]!.AsArray().Select(m => (string)m!["name"]!).ToArray();
            Assert.Equal(names.Length, (int)body["total"]!);
            return names;
        }

        Assert.Equal([empty, gguf, onnx], await Find($"q={stem}"));
        Assert.Equal([empty, gguf, onnx], await Find($"tag={tag}"));
        Assert.Equal([onnx], await Find($"tag={tag}&tag=vision"));
        Assert.Equal([gguf], await Find($"q={stem}&task=text-generation"));
        Assert.Equal([onnx], await Find($"q={stem}&format=onnx"));
        Assert.Equal([gguf], await Find($"q={stem}&format=gguf"));
        Assert.Empty(await Find($"q={stem}-none"));

        using (var page = await client.GetAsync($"api/v1/models?q={stem}&limit=2&offset=1"))
        {
            var body = await page.JsonAsync(HttpStatusCode.OK);
            Assert.Equal([gguf, onnx], body["models"]!.AsArray().Select(m => (string)m!["name"]!));
            Assert.Equal(3, (int)body["total"]!);
        }

        using (var listed = await client.GetAsync($"api/v1/models?q={stem}-onnx"))
        {
            var body = await listed.JsonAsync(HttpStatusCode.OK);
            Assert.Equal(1, (int)body["models"]![0]!["latest_version"]!);
        }

        using var bad = await client.GetAsync("api/v1/models?format=pytorch");
        await bad.ErrorAsync(HttpStatusCode.BadRequest, "invalid_query");
        using var badLimit = await client.GetAsync("api/v1/models?limit=0");
        await badLimit.ErrorAsync(HttpStatusCode.BadRequest, "invalid_query");
    }

    [Theory]
    [OnSqlite]
    [OnPostgres]
    public async Task Names_are_validated(Db db)
    {
        var client = (await servers.GetAsync(db)).Client;
        string[] bad = ["Upper", "../etc", "a/b", "", ".hidden", "-dash", "a..b", "sp ace", "é", new string('a', 65), "a\\b", "%2e%2e"];
        foreach (var name in bad)
        {
            using var response = await client.PostAsync("api/v1/models", Api.Json(new JsonObject { ["name"] = name }.ToJsonString()));
            await response.ErrorAsync(HttpStatusCode.BadRequest, "invalid_name");
        }

        // Path tricks in the URL never reach the disk or the database as a name.
        foreach (var path in new[] { "api/v1/models/..%2F..%2Fetc", "api/v1/models/UPPER", "api/v1/models/a..b/versions" })
        {
            using var response = await client.GetAsync(path);
            await response.ErrorAsync(HttpStatusCode.BadRequest, "invalid_name");
        }

        using var longest = await client.PostAsync("api/v1/models", Api.Json(new JsonObject { ["name"] = "a" + Names.Unique("x")[..10] + new string('z', 52) }.ToJsonString()));
        await longest.JsonAsync(HttpStatusCode.Created);
        using var badTag = await client.PostAsync("api/v1/models", Api.Json($$"""{"name": "{{Names.Unique()}}", "tags": ["Bad Tag"]}"""));
        await badTag.ErrorAsync(HttpStatusCode.BadRequest, "invalid_name");
        using var badVisibility = await client.PostAsync("api/v1/models", Api.Json($$"""{"name": "{{Names.Unique()}}", "visibility": "public"}"""));
        await badVisibility.ErrorAsync(HttpStatusCode.BadRequest, "invalid_visibility");
    }

    [Theory]
    [OnSqlite]
    [OnPostgres]
    public async Task Malformed_requests_get_json_errors(Db db)
    {
        var client = (await servers.GetAsync(db)).Client;
        using (var response = await client.PostAsync("api/v1/models", Api.Json("{\"name\": ")))
        {
            await response.ErrorAsync(HttpStatusCode.BadRequest, "invalid_json");
        }

        using (var response = await client.PostAsync("api/v1/models", Api.Json("""{"name": "x", "nmae": "typo"}""")))
        {
            var error = await response.ErrorAsync(HttpStatusCode.BadRequest, "invalid_json");
            Assert.Contains("nmae", (string?)error["message"]);
        }

        using (var response = await client.PostAsync("api/v1/models", Api.Json("""{"name": 42}""")))
        {
            var error = await response.ErrorAsync(HttpStatusCode.BadRequest, "invalid_json");
            Assert.Equal("the JSON body is invalid at $.name: expected a string", (string?)error["message"]);
        }

        // Messages say what JSON was expected, never the server's .NET type names.
        foreach (var (route, body, message) in new[]
        {
            ("api/v1/models", """{"name": "x", "nmae": "typo"}""", "the JSON body is invalid at $.nmae: unknown field 'nmae'"),
            ("api/v1/models", """{"name": "x", "tags": "vision"}""", "the JSON body is invalid at $.tags: expected a list of strings"),
            ("api/v1/tenants", """{"name": "x", "limits": {"requests_per_minute": "ten"}}""", "the JSON body is invalid at $.limits.requests_per_minute: expected a whole number"),
            ("api/v1/keys", """{"name": "x", "scopes": ["infer"], "expires_at": "tomorrow"}""",
            "the JSON body is invalid at $.expires_at: expected an ISO 8601 time such as \"2030-01-31T12:00:00Z\""),

            // A key given twice is ambiguous on every route, not only training's: refused rather than the last one winning.
            ("api/v1/models", """{"name": "x", "name": "y"}""", "the JSON body is invalid at $.name: 'name' is given more than once"),
            ("api/v1/keys", """{"name": "x", "scopes": ["infer"], "scopes": ["admin"]}""", "the JSON body is invalid at $.scopes: 'scopes' is given more than once"),
            ("api/v1/tenants", """{"name": "x", "limits": {"requests_per_minute": 10, "requests_per_minute": 100000}}""",
            "the JSON body is invalid at $.limits.requests_per_minute: 'requests_per_minute' is given more than once"),
        })
        {
            using var response = await client.PostAsync(route, Api.Json(body));
            var error = await response.ErrorAsync(HttpStatusCode.BadRequest, "invalid_json");
            Assert.Equal(message, (string?)error["message"]);
            Assert.DoesNotContain("System.", (string?)error["message"], StringComparison.Ordinal);
        }

        // A key that is no text (a lone surrogate escape), read by the duplicate-key check: the caller's 400 too.
        using (var response = await client.PostAsync("api/v1/models", Api.Json("""{"name": "x", "\ud800": 1}""")))
        {
            var error = await response.ErrorAsync(HttpStatusCode.BadRequest, "invalid_json");
            Assert.DoesNotContain("System.", (string?)error["message"], StringComparison.Ordinal);
        }

        using (var response = await client.PostAsync("api/v1/models", Api.Json("")))
        {
            await response.ErrorAsync(HttpStatusCode.BadRequest, "invalid_json");
        }

        using (var response = await client.PostAsync("api/v1/models", new StringContent("name=x", System.Text.Encoding.UTF8, "text/plain")))
        {
            await response.ErrorAsync(HttpStatusCode.UnsupportedMediaType, "unsupported_media_type");
        }

        using (var response = await client.GetAsync("api/v1/no-such-route"))
        {
            await response.ErrorAsync(HttpStatusCode.NotFound, "route_not_found");
        }

        // The model is resolved first, at the edge: a missing one answers 404 whatever else is wrong, as a hidden one does.
        using (var response = await client.GetAsync("api/v1/models/no-such-model-here/versions/abc"))
        {
            await response.ErrorAsync(HttpStatusCode.NotFound, "model_not_found");
        }

        var existing = Names.Unique("malformed");
        using (var created = await client.PostAsync("api/v1/models", Api.Json($$"""{"name": "{{existing}}"}""")))
        {
            Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        }

        using (var response = await client.GetAsync($"api/v1/models/{existing}/versions/abc"))
        {
            await response.ErrorAsync(HttpStatusCode.BadRequest, "invalid_version");
        }

        using (var response = await client.DeleteAsync($"api/v1/models/{existing}?force=maybe"))
        {
            await response.ErrorAsync(HttpStatusCode.BadRequest, "invalid_query");
        }
    }

    [Theory]
    [OnSqlite]
    [OnPostgres]
    public async Task Serving_configuration_is_stored_with_the_model(Db db)
    {
        var client = (await servers.GetAsync(db)).Client;
        var name = await client.CreateModelAsync();
        using (var empty = await client.GetAsync($"api/v1/models/{name}/config"))
        {
            Assert.Empty((await empty.JsonAsync(HttpStatusCode.OK)).AsObject());
        }

        var config = """
            {"instance_count": 2, "max_batch_size": 16, "preferred_batch_sizes": [4, 8], "max_queue_delay_ms": 1.5, "queue_limit": 64,
             "timeout_ms": 30000, "context_size": 4096, "parallel_sequences": 4, "threads": 2, "load_at_start": true, "keep_alive_seconds": 300,
             "providers": ["cuda", "cpu"]}
            """;
        using (var put = await client.PutAsync($"api/v1/models/{name}/config", Api.Json(config)))
        {
            var stored = await put.JsonAsync(HttpStatusCode.OK);
            Assert.True(JsonNode.DeepEquals(JsonNode.Parse(config), stored), stored.ToJsonString());
        }

        using (var shown = await client.GetAsync($"api/v1/models/{name}"))
        {
            var model = await shown.JsonAsync(HttpStatusCode.OK);
            Assert.Equal(16, (int)model["serving_config"]!["max_batch_size"]!);
            Assert.True((bool)model["serving_config"]!["load_at_start"]!);
        }

        using (var invalid = await client.PutAsync($"api/v1/models/{name}/config", Api.Json("""{"instance_count": 0, "max_batch_size": 4, "preferred_batch_sizes": [8]}""")))
        {
            var error = await invalid.ErrorAsync(HttpStatusCode.BadRequest, "invalid_config");
            Assert.Equal(2, error["errors"]!.AsArray().Count);
        }

        using (var providers = await client.PutAsync($"api/v1/models/{name}/config", Api.Json("""{"providers": ["gpu", "cpu"]}""")))
        {
            var error = await providers.ErrorAsync(HttpStatusCode.BadRequest, "invalid_config");
            Assert.Contains("providers[0] = 'gpu'", error["errors"]![0]!.GetValue<string>(), StringComparison.Ordinal);
        }

        using (var typo = await client.PutAsync($"api/v1/models/{name}/config", Api.Json("""{"max_batch": 4}""")))
        {
            await typo.ErrorAsync(HttpStatusCode.BadRequest, "invalid_json");
        }

        using var missing = await client.PutAsync("api/v1/models/no-such-model-cfg/config", Api.Json("{}"));
        await missing.ErrorAsync(HttpStatusCode.NotFound, "model_not_found");
    }
}
