using System.Net;
using Maas.Server.Tests.Support;

namespace Maas.Server.Tests.Registry;

/// <summary>
/// Bad input to the management API is the caller's mistake, answered 400 naming the field: preconditions out of their
/// domain, control characters in free text, numbers too large for their field, nulls in id lists; and a model's task
/// can be cleared again.
/// </summary>
public sealed class ManagementInputTests(ServerPerDb servers) : IClassFixture<ServerPerDb>
{
    private static async Task<string> ModelWithAliasAsync(HttpClient client)
    {
        var name = await client.CreateModelAsync();
        await client.UploadAsync(name, TestArtifacts.Onnx(seed: 5), "model.onnx");
        using var set = await client.PutAsync($"api/v1/models/{name}/aliases/production", Api.Json("""{"version": 1}"""));
        await set.JsonAsync(HttpStatusCode.OK);
        return name;
    }

    // A version below 1 can never be the alias's: the request itself is wrong, not a lost race (409 alias_conflict).
    [Theory]
    [OnSqlite]
    public async Task An_expected_version_below_1_is_refused_400_naming_it(Db db)
    {
        var client = (await servers.GetAsync(db)).Client;
        var name = await ModelWithAliasAsync(client);
        foreach (var expected in new[] { "-1", "0" })
        {
            using var put = await client.PutAsync($"api/v1/models/{name}/aliases/production", Api.Json($$"""{"version": 1, "expected_version": {{expected}}}"""));
            var error = await put.ErrorAsync(HttpStatusCode.BadRequest, "invalid_precondition");
            Assert.Contains("expected_version", (string?)error["message"], StringComparison.Ordinal);
            Assert.Contains("1 or more", (string?)error["message"], StringComparison.Ordinal);

            using var delete = await client.DeleteAsync($"api/v1/models/{name}/aliases/production?expected_version={expected}");
            error = await delete.ErrorAsync(HttpStatusCode.BadRequest, "invalid_precondition");
            Assert.Contains("expected_version", (string?)error["message"], StringComparison.Ordinal);
        }

        // The alias is untouched, and a right expectation still moves it.
        using var moved = await client.PutAsync($"api/v1/models/{name}/aliases/production", Api.Json("""{"version": 1, "expected_version": 1}"""));
        Assert.Equal(2, (long)(await moved.JsonAsync(HttpStatusCode.OK))["revision"]!);
    }

    [Theory]
    [OnSqlite]
    [OnPostgres]
    public async Task A_models_task_is_cleared_by_null_or_an_empty_string(Db db)
    {
        var client = (await servers.GetAsync(db)).Client;
        var name = await client.CreateModelAsync(extra: """, "task": "image-classification", "description": "d" """);

        async Task<string?> PatchAsync(string body)
        {
            using var patched = await client.PatchAsync($"api/v1/models/{name}", Api.Json(body));
            var model = await patched.JsonAsync(HttpStatusCode.OK);
            Assert.Equal("d", (string?)model["description"]); // a field left out stays
            return (string?)model["task"];
        }

        Assert.Equal("image-classification", await PatchAsync("""{"tags": ["a"]}"""));
        Assert.Null(await PatchAsync("""{"task": null}"""));
        using (var shown = await client.GetAsync($"api/v1/models/{name}"))
        {
            Assert.Null((await shown.JsonAsync(HttpStatusCode.OK))["task"]);
        }

        using (var listed = await client.GetAsync($"api/v1/models?task=image-classification&q={name}"))
        {
            Assert.Equal(0, (int)(await listed.JsonAsync(HttpStatusCode.OK))["total"]!);
        }

        Assert.Equal("text-generation", await PatchAsync("""{"task": "text-generation"}"""));
        Assert.Null(await PatchAsync("""{"task": ""}"""));
        Assert.Null(await PatchAsync("""{"tags": []}"""));

        // Created with "task": "" is created without one, as PATCH reads it.
        var untasked = Names.Unique("m");
        using var created = await client.PostAsync("api/v1/models", Api.Json($$"""{"name": "{{untasked}}", "task": ""}"""));
        Assert.Null((await created.JsonAsync(HttpStatusCode.Created))["task"]);
    }

    // C0 control characters other than tab, line feed and carriage return, and DEL, are nothing a person reads, and
    // break logs and terminals (an ESC starts a terminal escape sequence when the CLI prints the description).
    [Theory]
    [OnSqlite]
    public async Task Control_characters_in_free_text_are_refused_naming_the_field(Db db)
    {
        var client = (await servers.GetAsync(db)).Client;
        foreach (var bad in new[] { @"\u0000", @"\u001b[31m", @"\u0007", @"\u007f" })
        {
            using var created = await client.PostAsync("api/v1/models", Api.Json($$"""{"name": "{{Names.Unique()}}", "description": "a{{bad}}b"}"""));
            var error = await created.ErrorAsync(HttpStatusCode.BadRequest, "invalid_field");
            Assert.Contains("description", (string?)error["message"], StringComparison.Ordinal);
            Assert.Contains("control character", (string?)error["message"], StringComparison.Ordinal);
        }

        var name = await client.CreateModelAsync(extra: """, "description": "line one\r\n\tline two" """);
        using (var patched = await client.PatchAsync($"api/v1/models/{name}", Api.Json("""{"description": "x\u001by"}""")))
        {
            await patched.ErrorAsync(HttpStatusCode.BadRequest, "invalid_field");
        }

        using (var shown = await client.GetAsync($"api/v1/models/{name}"))
        {
            Assert.Equal("line one\r\n\tline two", (string?)(await shown.JsonAsync(HttpStatusCode.OK))["description"]);
        }

        // Version metadata (notes, sources, ...): its keys and values, and a null value (was a 500).
        foreach (var (metadata, says) in new[]
        {
            ("""{"note": "a\u001bb"}""", "metadata 'note' has a control character (U+001B) at position 1"),
            ("""{"no\u0000te": "a"}""", "metadata key 'no\\u0000te' has a control character (U+0000) at position 2"),
            ("""{"note": null}""", "metadata 'note' is null"),
        })
        {
            using var uploaded = await client.PostAsync($"api/v1/models/{name}/versions", WithMetadata(metadata));
            var error = await uploaded.ErrorAsync(HttpStatusCode.BadRequest, "invalid_metadata");
            Assert.Contains(says, (string?)error["message"], StringComparison.Ordinal);
        }

        var session = await OpenSessionAsync(client, name);
        using (var completed = await client.PostAsync($"api/v1/uploads/{session}/complete", Api.Json("""{"metadata": {"note": "\u0001"}}""")))
        {
            await completed.ErrorAsync(HttpStatusCode.BadRequest, "invalid_metadata");
        }

        using (var fine = await client.PostAsync($"api/v1/models/{name}/versions", WithMetadata("""{"note": "tab\there\nnext line"}""")))
        {
            Assert.Equal("tab\there\nnext line", (string?)(await fine.JsonAsync(HttpStatusCode.Created))["metadata"]!["note"]);
        }
    }

    [Theory]
    [OnSqlite]
    public async Task A_limit_too_large_for_its_field_is_refused_naming_the_field_and_its_range(Db db)
    {
        var client = (await servers.GetAsync(db)).Client;
        using (var key = await client.PostAsync("api/v1/keys", Api.Json("""{"name": "k", "scopes": ["infer"], "limits": {"concurrent_requests": 3000000000}}""")))
        {
            var message = (string?)(await key.ErrorAsync(HttpStatusCode.BadRequest, "invalid_json"))["message"];
            Assert.Contains("limits.concurrent_requests", message, StringComparison.Ordinal);
            Assert.Contains("at most 2147483647", message, StringComparison.Ordinal);
            Assert.Contains("3000000000", message, StringComparison.Ordinal);
        }

        using (var tenant = await client.PostAsync("api/v1/tenants", Api.Json($$$"""{"name": "{{{Names.Unique()}}}", "limits": {"requests_per_minute": 99999999999999999999}}""")))
        {
            var message = (string?)(await tenant.ErrorAsync(HttpStatusCode.BadRequest, "invalid_json"))["message"];
            Assert.Contains("limits.requests_per_minute", message, StringComparison.Ordinal);
            Assert.Contains("at most 9223372036854775807", message, StringComparison.Ordinal);
        }

        // A fraction is no whole number at all: said so, as before.
        using (var fraction = await client.PostAsync("api/v1/keys", Api.Json("""{"name": "k", "scopes": ["infer"], "limits": {"concurrent_requests": 1.5}}""")))
        {
            Assert.Contains("expected a whole number", (string?)(await fraction.ErrorAsync(HttpStatusCode.BadRequest, "invalid_json"))["message"], StringComparison.Ordinal);
        }
    }

    [Theory]
    // A record's constructor parameter (the serializer's own error names the record, not the field's type), either end
    // of the range, and a whole number in exponent form; a whole number that fits but is written 1e2 is not one.
    [InlineData("""{"version": -3000000000}""", "the JSON body is invalid at $.version: -3000000000 is too small: version takes a whole number of at least -2147483648")]
    [InlineData("""{"version": 1, "expected_version": 1e10}""",
        "the JSON body is invalid at $.expected_version: 1e10 is too large: expected_version takes a whole number of at most 2147483647")]
    [InlineData("""{"version": 1e2}""", "the JSON body is invalid at $.version: expected a whole number")]
    [InlineData("""{"version": "one"}""", "the JSON body is invalid at $.version: expected a whole number")]
    public async Task A_whole_number_out_of_a_record_parameters_range_is_refused_naming_the_parameter(string body, string message)
    {
        var client = (await servers.GetAsync(Db.Sqlite)).Client;
        var model = await client.CreateModelAsync();
        using var response = await client.PutAsync($"api/v1/models/{model}/aliases/production", Api.Json(body));
        Assert.Equal(message, (string?)(await response.ErrorAsync(HttpStatusCode.BadRequest, "invalid_json"))["message"]);
    }

    [Theory]
    [OnSqlite]
    public async Task A_null_or_empty_id_in_a_list_is_refused_400_naming_the_field(Db db)
    {
        var client = (await servers.GetAsync(db)).Client;
        var name = await client.CreateModelAsync();
        var session = await OpenSessionAsync(client, name);
        foreach (var (files, field) in new[] { ("[null]", "files[0]"), ("""["x", ""]""", "files[1]") })
        {
            using var completed = await client.PostAsync($"api/v1/uploads/{session}/complete", Api.Json($$"""{"files": {{files}}}"""));
            var error = await completed.ErrorAsync(HttpStatusCode.BadRequest, "invalid_upload");
            Assert.Contains(field, (string?)error["message"], StringComparison.Ordinal);
        }

        using (var tags = await client.PostAsync("api/v1/models", Api.Json($$"""{"name": "{{Names.Unique()}}", "tags": ["a", null]}""")))
        {
            Assert.Contains("tags[1]", (string?)(await tags.ErrorAsync(HttpStatusCode.BadRequest, "invalid_name"))["message"], StringComparison.Ordinal);
        }
    }

    private static HttpContent WithMetadata(string metadata)
    {
        var content = MaasTestServer.Artifact(TestArtifacts.Onnx(seed: 6), "model.onnx");
        content.Headers.Add("X-Maas-Metadata", metadata);
        return content;
    }

    private static async Task<string> OpenSessionAsync(HttpClient client, string model)
    {
        using var response = await client.PostAsync($"api/v1/models/{model}/uploads", Api.Json("""{"filename": "model.onnx"}"""));
        return (string)(await response.JsonAsync(HttpStatusCode.Created))["id"]!;
    }
}
