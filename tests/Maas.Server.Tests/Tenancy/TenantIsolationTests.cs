using System.Net;
using System.Text.Json.Nodes;
using Maas.Core.Tenancy;
using Maas.Server.Tests.OpenAi;
using Maas.Server.Tests.Support;

namespace Maas.Server.Tests.Tenancy;

/// <summary>A tenancy server that may import from loopback and serve small LLMs, with a loopback file host.</summary>
public sealed class IsolationHostFixture : IAsyncLifetime
{
    private TenancyHost? _host;

    public TenancyHost Host => _host ?? throw new InvalidOperationException("not started");

    public LoopbackFileServer Files { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Files = await LoopbackFileServer.StartAsync();
        var settings = new Dictionary<string, string?>(LlmServerFixture.Settings)
        {
            ["Maas:Registry:ImportAllowPrivateNetworks"] = "true", // the "outside" host is on loopback
        };
        _host = await TenancyHost.StartAsync(settings);
    }

    public async Task DisposeAsync()
    {
        if (_host is not null)
        {
            await _host.DisposeAsync();
        }

        await Files.DisposeAsync();
    }
}

/// <summary>
/// What one tenant can reach of another's: jobs, loaded LLM engines, upload sessions and lineage references all
/// answer as if the other tenant's things did not exist.
/// </summary>
public sealed class TenantIsolationTests(IsolationHostFixture fixture) : IClassFixture<IsolationHostFixture>
{
    private TenancyHost Host => fixture.Host;

    [Fact]
    public async Task Jobs_are_listed_shown_and_cancelled_only_for_their_own_tenant()
    {
        var (_, _, a) = await Host.TenantWithKeyAsync(MaasScopes.ModelsRead, MaasScopes.ModelsWrite);
        var (_, _, b) = await Host.TenantWithKeyAsync(MaasScopes.ModelsRead, MaasScopes.ModelsWrite);
        var model = await a.CreateModelAsync();
        var url = fixture.Files.Add($"/files/{Names.Unique("f")}/model.gguf", new ServedFile(TestArtifacts.Gguf(seed: 77)));
        using var started = await a.PostAsync($"api/v1/models/{model}/versions:import", Api.Json($$"""{"url": "{{url}}"}"""));
        var id = (string)(await started.JsonAsync(HttpStatusCode.Accepted))["id"]!;
        Assert.Equal("succeeded", (string?)(await a.WaitForJobAsync(id))["status"]);

        Assert.Contains(id, await JobIdsAsync(a));
        Assert.Contains(id, await JobIdsAsync(Host.Admin));
        Assert.DoesNotContain(id, await JobIdsAsync(b));

        // Another tenant's job answers exactly like one that never existed, for reading and for cancelling.
        var unknown = new string('0', id.Length);
        foreach (var path in new[] { id, unknown })
        {
            var shown = await (await b.GetAsync($"api/v1/jobs/{path}")).ErrorAsync(HttpStatusCode.NotFound, "job_not_found");
            Assert.Equal($"job '{path}' does not exist", (string?)shown["message"]);
            await (await b.DeleteAsync($"api/v1/jobs/{path}")).ErrorAsync(HttpStatusCode.NotFound, "job_not_found");
        }

        await (await a.DeleteAsync($"api/v1/jobs/{id}")).ErrorAsync(HttpStatusCode.Conflict, "job_finished");
        Assert.Equal(HttpStatusCode.OK, (await Host.Admin.GetAsync($"api/v1/jobs/{id}")).StatusCode);
    }

    [Fact]
    public async Task Loaded_llm_engines_are_listed_only_to_callers_who_may_see_their_model()
    {
        var (tenant, _, a) = await Host.TenantWithKeyAsync(MaasScopes.ModelsRead, MaasScopes.ModelsWrite, MaasScopes.Infer);
        var (_, _, b) = await Host.TenantWithKeyAsync(MaasScopes.ModelsRead, MaasScopes.Infer);
        var model = await a.CreateModelAsync(extra: """, "task": "text-generation" """);
        await a.UploadAsync(model, TestArtifacts.Gguf(seed: 78), "model.gguf");
        using var chat = await a.PostAsync("v1/chat/completions", Api.Json($$"""{"model": "{{model}}", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 1}"""));
        Assert.Equal(HttpStatusCode.OK, chat.StatusCode);

        Assert.Contains(model, await EngineModelsAsync(a));
        Assert.Contains($"{tenant}/{model}", await EngineModelsAsync(Host.Admin)); // another tenant's model, by owner/name
        Assert.DoesNotContain(model, await EngineModelsAsync(b));

        // A key of the owning tenant limited to other models does not see it either.
        var (_, narrowSecret) = await Host.CreateKeyAsync(tenant, [MaasScopes.ModelsRead], ["something-else-*"]);
        using var narrow = Host.Client(narrowSecret);
        Assert.DoesNotContain(model, await EngineModelsAsync(narrow));
    }

    [Fact]
    public async Task An_upload_session_belongs_to_the_key_that_opened_it()
    {
        var (tenant, _, a) = await Host.TenantWithKeyAsync(MaasScopes.ModelsRead, MaasScopes.ModelsWrite);
        var (_, _, b) = await Host.TenantWithKeyAsync(MaasScopes.ModelsRead, MaasScopes.ModelsWrite);
        var (_, sameTenantSecret) = await Host.CreateKeyAsync(tenant, [MaasScopes.ModelsRead, MaasScopes.ModelsWrite]);
        using var colleague = Host.Client(sameTenantSecret);
        var model = await a.CreateModelAsync();
        var onnx = TestArtifacts.Onnx(seed: 79);
        using var created = await a.PostAsync($"api/v1/models/{model}/uploads", Api.Json($$"""{"filename": "model.onnx", "size": {{onnx.Length}}}"""));
        var id = (string)(await created.JsonAsync(HttpStatusCode.Created))["id"]!;

        var own = await b.CreateModelAsync();
        using var ownCreated = await b.PostAsync($"api/v1/models/{own}/uploads", Api.Json("""{"filename": "model.onnx"}"""));
        var ownId = (string)(await ownCreated.JsonAsync(HttpStatusCode.Created))["id"]!;

        foreach (var other in new[] { b, colleague })
        {
            await (await other.GetAsync($"api/v1/uploads/{id}")).ErrorAsync(HttpStatusCode.NotFound, "upload_not_found");
            Assert.Equal(HttpStatusCode.NotFound, (await other.SendAsync(new HttpRequestMessage(HttpMethod.Head, $"api/v1/uploads/{id}"))).StatusCode);
            var patch = new HttpRequestMessage(HttpMethod.Patch, $"api/v1/uploads/{id}") { Content = new ByteArrayContent(onnx) };
            patch.Headers.Add("Upload-Offset", "0");
            await (await other.SendAsync(patch)).ErrorAsync(HttpStatusCode.NotFound, "upload_not_found");
            await (await other.PutAsync($"api/v1/uploads/{id}?offset=0", new ByteArrayContent(onnx))).ErrorAsync(HttpStatusCode.NotFound, "upload_not_found");
            await (await other.PostAsync($"api/v1/uploads/{id}/complete", Api.Json("{}"))).ErrorAsync(HttpStatusCode.NotFound, "upload_not_found");
            await (await other.DeleteAsync($"api/v1/uploads/{id}")).ErrorAsync(HttpStatusCode.NotFound, "upload_not_found");
        }

        // Nor can a session be pulled into one's own version as an extra file.
        await (await b.PostAsync($"api/v1/uploads/{ownId}/complete", Api.Json($$"""{"files": ["{{id}}"]}""")))
            .ErrorAsync(HttpStatusCode.NotFound, "upload_not_found");

        // The session is untouched: its owner finishes it.
        var chunk = new HttpRequestMessage(HttpMethod.Patch, $"api/v1/uploads/{id}") { Content = new ByteArrayContent(onnx) };
        chunk.Headers.Add("Upload-Offset", "0");
        Assert.Equal(HttpStatusCode.NoContent, (await a.SendAsync(chunk)).StatusCode);
        using var completed = await a.PostAsync($"api/v1/uploads/{id}/complete", Api.Json("{}"));
        Assert.Equal(TestArtifacts.Sha256(onnx), (string?)(await completed.JsonAsync(HttpStatusCode.Created))["sha256"]);
    }

    [Fact]
    public async Task Derived_from_naming_a_hidden_model_answers_like_a_missing_one_and_lineage_is_not_shown()
    {
        var (tenantA, _, a) = await Host.TenantWithKeyAsync(MaasScopes.ModelsRead, MaasScopes.ModelsWrite);
        var (_, _, b) = await Host.TenantWithKeyAsync(MaasScopes.ModelsRead, MaasScopes.ModelsWrite);
        var secret = await a.CreateModelAsync();
        await a.UploadAsync(secret, TestArtifacts.Onnx(seed: 80), "model.onnx");
        var shared = await a.CreateModelAsync(extra: """, "visibility": "shared" """);
        await a.UploadAsync(shared, TestArtifacts.Onnx(seed: 81), "model.onnx");
        var mine = await b.CreateModelAsync();

        var missing = Names.Unique("no-such");
        var hidden = await RefusedLineageAsync(b, mine, $"{secret}/versions/1");
        var absent = await RefusedLineageAsync(b, mine, $"{missing}/versions/1");
        Assert.Equal(absent.Replace(missing, "X", StringComparison.Ordinal), hidden.Replace(secret, "X", StringComparison.Ordinal));

        // Through an import too.
        using (var import = await b.PostAsync($"api/v1/models/{mine}/versions:import", Api.Json($$"""{"url": "http://127.0.0.1:9/x.onnx", "derived_from": "{{secret}}"}""")))
        {
            await import.ErrorAsync(HttpStatusCode.BadRequest, "lineage_not_found");
        }

        // A shared model is a fine parent; once its owner makes it private, the lineage is no longer shown to b.
        var derived = await b.UploadAsync(mine, TestArtifacts.Onnx(seed: 82), "model.onnx", $"?derived_from={shared}");
        Assert.Equal($"{tenantA}/{shared}", (string?)derived["derived_from"]!["model"]); // another tenant's model, by owner/name
        using (var hide = await a.PatchAsync($"api/v1/models/{shared}", Api.Json("""{"visibility": "private"}""")))
        {
            await hide.JsonAsync(HttpStatusCode.OK);
        }

        var shown = await (await b.GetAsync($"api/v1/models/{mine}/versions/1")).JsonAsync(HttpStatusCode.OK);
        Assert.Null(shown["derived_from"]);
        var listed = await (await b.GetAsync($"api/v1/models/{mine}/versions")).JsonAsync(HttpStatusCode.OK);
        Assert.Null(listed["versions"]![0]!["derived_from"]);
        var asAdmin = await (await Host.Admin.GetAsync($"api/v1/models/{mine}/versions/1")).JsonAsync(HttpStatusCode.OK);
        Assert.Equal($"{tenantA}/{shared}", (string?)asAdmin["derived_from"]!["model"]);
    }

    private static async Task<string> RefusedLineageAsync(HttpClient client, string model, string derivedFrom)
    {
        using var response = await client.PostAsync(
            $"api/v1/models/{model}/versions?derived_from={Uri.EscapeDataString(derivedFrom)}",
            MaasTestServer.Artifact(TestArtifacts.Onnx(seed: 83), "model.onnx"));
        var error = await response.ErrorAsync(HttpStatusCode.BadRequest, "lineage_not_found");
        return (string)error["message"]!;
    }

    [Fact]
    public async Task Worker_run_jobs_are_listed_only_for_their_own_tenant_and_by_kind()
    {
        var (_, _, a) = await Host.TenantWithKeyAsync(MaasScopes.ModelsRead, MaasScopes.ModelsWrite);
        var (_, _, b) = await Host.TenantWithKeyAsync(MaasScopes.ModelsRead, MaasScopes.ModelsWrite);
        var model = await a.CreateModelAsync();
        await a.UploadAsync(model, TestArtifacts.Onnx(seed: 84), "model.onnx");
        using var started = await a.PostAsync($"api/v1/models/{model}/versions/1:optimize", Api.Json("""{"method": "onnx-fp16"}"""));
        var id = (string)(await started.JsonAsync(HttpStatusCode.Accepted))["id"]!;

        // GET /api/v1/jobs lists the optimisation beside the imports, for its tenant and admins only.
        Assert.Contains(id, await JobIdsAsync(a));
        Assert.Contains(id, await JobIdsAsync(Host.Admin));
        Assert.DoesNotContain(id, await JobIdsAsync(b));
        var optimisations = await (await a.GetAsync("api/v1/jobs?kind=optimization")).JsonAsync(HttpStatusCode.OK);
        Assert.All(optimisations["jobs"]!.AsArray(), j => Assert.Equal("optimization", (string?)j!["kind"]));
        Assert.Contains(id, optimisations["jobs"]!.AsArray().Select(j => (string?)j!["id"]));
        var imports = await (await a.GetAsync("api/v1/jobs?kind=import")).JsonAsync(HttpStatusCode.OK);
        Assert.DoesNotContain(id, imports["jobs"]!.AsArray().Select(j => (string?)j!["id"]));
        await (await a.GetAsync("api/v1/jobs?kind=nope")).ErrorAsync(HttpStatusCode.BadRequest, "invalid_query");
        await a.WaitForJobAsync(id);
    }

    private static async Task<string[]> JobIdsAsync(HttpClient client)
    {
        var list = await (await client.GetAsync("api/v1/jobs?limit=1000")).JsonAsync(HttpStatusCode.OK);
        return list["jobs"]!.AsArray().Select(j => (string)j!["id"]!).ToArray();
    }

    private static async Task<string[]> EngineModelsAsync(HttpClient client)
    {
        using var response = await client.GetAsync("api/v1/llm/engines");
        var engines = JsonNode.Parse(await response.Content.ReadAsStringAsync())!.AsArray();
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return engines.Select(e => (string)e!["model"]!).ToArray();
    }
}
