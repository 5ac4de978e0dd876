using System.Net;
using System.Text.Json.Nodes;
using Maas.Core.Tenancy;
using Maas.Server.TensorInference.Grpc.Protocol;
using Maas.Server.Tests.Support;
using Maas.Server.Tests.TensorInference;

namespace Maas.Server.Tests.Tenancy;

/// <summary>
/// Model names live in their tenant's namespace: two tenants each have "faces"; a caller reaches its own by the short
/// name and another tenant's shared one as tenant/name on every protocol; a private one answers like a missing one.
/// </summary>
public sealed class ModelNamespaceTests(GrpcTenancyFixture fixture) : IClassFixture<GrpcTenancyFixture>
{
    private TenancyHost Host => fixture.Host;

    [Fact]
    public async Task Two_tenants_each_have_faces_and_reach_the_others_shared_one_as_tenant_slash_name()
    {
        var scopes = new[] { MaasScopes.ModelsRead, MaasScopes.ModelsWrite, MaasScopes.Infer };
        var (tenantA, keyA, a) = await Host.TenantWithKeyAsync(scopes);
        var (tenantB, _, b) = await Host.TenantWithKeyAsync(scopes);
        var (_, _, c) = await Host.TenantWithKeyAsync(scopes);
        var faces = Names.Unique("faces");
        var secret = Names.Unique("secret");
        await a.CreateModelAsync(faces);
        await a.UploadAsync(faces, TestArtifacts.Onnx(seed: 11), "model.onnx");
        await b.CreateModelAsync(faces, """, "visibility": "shared" """);
        await b.UploadAsync(faces, TestArtifacts.Onnx(seed: 12), "model.onnx");
        await a.CreateModelAsync(secret);
        await a.UploadAsync(secret, TestArtifacts.Onnx(seed: 13), "model.onnx");

        // OIP v2 REST: the short name is the caller's own; tenant%2Fname is that tenant's.
        var ownA = await InferAsync(a, faces);
        var ownB = await InferAsync(b, faces);
        Assert.NotEqual(ownA, ownB);
        Assert.Equal(ownB, await InferAsync(a, $"{tenantB}%2F{faces}"));
        Assert.Equal(ownB, await InferAsync(a, $"{tenantB}%2F{faces}", "/versions/1"));
        Assert.Equal(ownA, await InferAsync(a, $"{tenantA}%2F{faces}"));
        Assert.Equal(ownA, await InferAsync(Host.Admin, $"{tenantA}%2F{faces}"));

        // A tenant without "faces": the one shared "faces" (b's) answers to the short name, as before names were per tenant.
        Assert.Equal(ownB, await InferAsync(c, faces));
        // Answers name the model as the caller does: its own by the short name, another tenant's as owner/name.
        Assert.Equal(faces, await AnsweredNameAsync(a, $"v2/models/{faces}/infer"));
        Assert.Equal(faces, await AnsweredNameAsync(a, $"v2/models/{tenantA}%2F{faces}/infer"));
        Assert.Equal($"{tenantB}/{faces}", await AnsweredNameAsync(a, $"v2/models/{tenantB}%2F{faces}/versions/1/infer"));
        Assert.Equal($"{tenantA}/{faces}", await AnsweredNameAsync(Host.Admin, $"v2/models/{tenantA}%2F{faces}/infer"));
        Assert.Equal($"{tenantB}/{faces}", await AnsweredNameAsync(a, $"api/v1/models/{tenantB}%2F{faces}/predict", """{"inputs": {"input": [[1, 2, 3, 4]]}}"""));
        Assert.Equal(faces, await AnsweredNameAsync(b, $"api/v1/models/{faces}/versions/1/predict", """{"inputs": {"input": [[1, 2, 3, 4]]}}"""));
        Assert.Equal(ownB, await InferAsync(a, $"{tenantB}%2F{faces}"));
        var ready = await (await a.GetAsync($"v2/models/{tenantB}%2F{faces}/ready")).Content.ReadAsStringAsync();
        Assert.Contains("true", ready, StringComparison.Ordinal);
        // Metadata, readiness and statistics name it as the infer answers do (metadata used to answer the key).
        foreach (var (caller, asked, named) in new[] { (a, $"{tenantB}%2F{faces}", $"{tenantB}/{faces}"), (b, faces, faces), (b, $"{tenantB}%2F{faces}", faces) })
        {
            Assert.Equal(named, (string?)(await (await caller.GetAsync($"v2/models/{asked}")).JsonAsync(HttpStatusCode.OK))["name"]);
            Assert.Equal(named, (string?)(await (await caller.GetAsync($"v2/models/{asked}/ready")).JsonAsync(HttpStatusCode.OK))["name"]);
            Assert.Equal(named, (string?)(await (await caller.GetAsync($"v2/models/{asked}/stats")).JsonAsync(HttpStatusCode.OK))["model_stats"]![0]!["name"]);
        }

        // Another tenant's private model is exactly a missing one: qualified, short, on every route.
        var missing = Names.Unique("missing");
        foreach (var path in new[] { "v2/models/{0}/infer", "v2/models/{0}/versions/1/infer", "v2/models/{0}/ready", "v2/models/{0}", "api/v1/models/{0}",
            "api/v1/models/{0}/versions/1" })
        {
            var hidden = await AnswerAsync(b, path, $"{tenantA}%2F{faces}");
            var absent = await AnswerAsync(b, path, $"{tenantA}%2F{missing}");
            Assert.Equal(HttpStatusCode.NotFound, hidden.Status);
            Assert.Equal(absent.Text.Replace(missing, "X", StringComparison.Ordinal), hidden.Text.Replace(faces, "X", StringComparison.Ordinal));

            var hiddenShort = await AnswerAsync(c, path, secret);
            var absentShort = await AnswerAsync(c, path, missing);
            Assert.Equal(HttpStatusCode.NotFound, hiddenShort.Status);
            Assert.Equal(absentShort.Text.Replace(missing, "X", StringComparison.Ordinal), hiddenShort.Text.Replace(secret, "X", StringComparison.Ordinal));
        }

        // gRPC model_name takes the same names.
        using var grpc = new GrpcTestClient(fixture.Grpc, apiKey: null);
        var grpcA = a.DefaultRequestHeaders.Authorization!.Parameter!;
        var grpcB = b.DefaultRequestHeaders.Authorization!.Parameter!;
        var viaGrpc = await grpc.CallAsync("ModelInfer", Infer($"{tenantB}/{faces}"), ModelInferResponse.Parser, Auth(grpcA));
        Assert.Equal(0, viaGrpc.Status);
        var ownViaGrpc = await grpc.CallAsync("ModelInfer", Infer(faces), ModelInferResponse.Parser, Auth(grpcB));
        Assert.Equal(ownViaGrpc.Single.RawOutputContents[0].ToByteArray(), viaGrpc.Single.RawOutputContents[0].ToByteArray());
        Assert.Equal(($"{tenantB}/{faces}", faces), (viaGrpc.Single.ModelName, ownViaGrpc.Single.ModelName));
        var metadata = await grpc.CallAsync("ModelMetadata", new ModelMetadataRequest { Name = $"{tenantB}/{faces}" }, ModelMetadataResponse.Parser, Auth(grpcA));
        var stats = await grpc.CallAsync("ModelStatistics", new ModelStatisticsRequest { Name = $"{tenantB}/{faces}" }, ModelStatisticsResponse.Parser, Auth(grpcA));
        Assert.Equal(($"{tenantB}/{faces}", $"{tenantB}/{faces}"), (metadata.Single.Name, stats.Single.ModelStats[0].Name));
        var grpcHidden = await grpc.CallAsync("ModelInfer", Infer($"{tenantA}/{faces}"), ModelInferResponse.Parser, Auth(grpcB));
        var grpcAbsent = await grpc.CallAsync("ModelInfer", Infer($"{tenantA}/{missing}"), ModelInferResponse.Parser, Auth(grpcB));
        Assert.Equal((5, grpcAbsent.Message?.Replace(missing, "X", StringComparison.Ordinal)), (grpcHidden.Status,
            grpcHidden.Message?.Replace(faces, "X", StringComparison.Ordinal)));

        // /api/v1 names the owner and the qualified name; the other's shared model is readable, not writable.
        var other = await (await a.GetAsync($"api/v1/models/{tenantB}%2F{faces}")).JsonAsync(HttpStatusCode.OK);
        Assert.Equal((faces, tenantB, $"{tenantB}/{faces}"), ((string?)other["name"], (string?)other["owner"], (string?)other["qualified_name"]));
        Assert.Equal($"/api/v1/models/{tenantB}%2F{faces}", (string?)other["url"]);
        await (await a.DeleteAsync($"api/v1/models/{tenantB}%2F{faces}")).ErrorAsync(HttpStatusCode.Forbidden, "model_read_only");
        foreach (var list in new[] { "versions", "aliases" })
        {
            Assert.Equal(faces, (string?)(await (await a.GetAsync($"api/v1/models/{faces}/{list}")).JsonAsync(HttpStatusCode.OK))["model"]);
            Assert.Equal($"{tenantB}/{faces}", (string?)(await (await a.GetAsync($"api/v1/models/{tenantB}%2F{faces}/{list}")).JsonAsync(HttpStatusCode.OK))["model"]);
        }

        var listed = await (await a.GetAsync($"api/v1/models?q={faces}")).JsonAsync(HttpStatusCode.OK);
        var rows = listed["models"]!.AsArray().Select(m => ((string?)m!["owner"], (string?)m["qualified_name"], (string?)m["url"])).Order().ToArray();
        var expected = new (string?, string?,
            string?)[] { (tenantA, $"{tenantA}/{faces}", $"/api/v1/models/{faces}"), (tenantB, $"{tenantB}/{faces}", $"/api/v1/models/{tenantB}%2F{faces}") };
        Assert.Equal(expected.Order(), rows);
        var listedByB = await (await b.GetAsync($"api/v1/models?q={faces}")).JsonAsync(HttpStatusCode.OK);
        Assert.Equal([tenantB], listedByB["models"]!.AsArray().Select(m => (string?)m!["owner"]));
        var resolved = await (await a.GetAsync($"api/v1/resolve?ref={tenantB}/{faces}:production")).JsonAsync(HttpStatusCode.NotFound);
        Assert.Equal("alias_not_found", (string?)resolved["error"]!["code"]);

        // A version derived from another tenant's shared model names it by owner/name.
        var derived = await a.UploadAsync(faces, TestArtifacts.Onnx(seed: 14), "model.onnx", $"?derived_from={tenantB}/{faces}/versions/1");
        Assert.Equal($"{tenantB}/{faces}", (string?)derived["derived_from"]!["model"]);
        Assert.Equal(faces, (string?)derived["model"]);

        // Usage names the other tenant's model qualified, the caller's own by its short name.
        var usage = await Host.UsageTotalsAsync($"key={keyA}&model={tenantB}/{faces}");
        Assert.True((long?)usage["requests"] >= 3, usage.ToJsonString());
        Assert.True((long?)(await Host.UsageTotalsAsync($"key={keyA}&model={faces}"))["requests"] >= 1);
    }

    [Fact]
    public async Task Openai_model_fields_take_tenant_slash_name_and_a_private_one_does_not_exist()
    {
        var scopes = new[] { MaasScopes.ModelsRead, MaasScopes.ModelsWrite, MaasScopes.Infer };
        var (tenantA, _, a) = await Host.TenantWithKeyAsync(scopes);
        var (tenantB, _, b) = await Host.TenantWithKeyAsync(scopes);
        var chat = Names.Unique("chat");
        await a.CreateModelAsync(chat, """, "task": "text-generation" """);
        await a.UploadAsync(chat, TestArtifacts.Gguf(seed: 21), "model.gguf");
        await b.CreateModelAsync(chat, """, "task": "text-generation", "visibility": "shared" """);
        await b.UploadAsync(chat, TestArtifacts.Gguf(seed: 22), "model.gguf");

        using var shared = await a.PostAsync("v1/chat/completions", Chat($"{tenantB}/{chat}"));
        var answer = await shared.JsonAsync(HttpStatusCode.OK);
        Assert.Equal($"{tenantB}/{chat}", (string?)answer["model"]);

        var hidden = await AnswerAsync(b, "v1/chat/completions", $"{tenantA}/{chat}");
        var absent = await AnswerAsync(b, "v1/chat/completions", $"{tenantA}/{chat}-missing");
        Assert.Equal(HttpStatusCode.NotFound, hidden.Status);
        Assert.Equal(absent.Text.Replace($"{chat}-missing", "X", StringComparison.Ordinal), hidden.Text.Replace(chat, "X", StringComparison.Ordinal));

        var ids = (await (await a.GetAsync("v1/models")).JsonAsync(HttpStatusCode.OK))["data"]!.AsArray().Select(m => (string?)m!["id"]).ToArray();
        Assert.Contains(chat, ids);
        Assert.Contains($"{tenantB}/{chat}", ids);
        var idsOfB = (await (await b.GetAsync("v1/models")).JsonAsync(HttpStatusCode.OK))["data"]!.AsArray().Select(m => (string?)m!["id"]).ToArray();
        Assert.Contains(chat, idsOfB);
        Assert.DoesNotContain($"{tenantA}/{chat}", idsOfB);
        var one = await (await a.GetAsync($"v1/models/{tenantB}/{chat}")).JsonAsync(HttpStatusCode.OK);
        Assert.Equal(($"{tenantB}/{chat}", tenantB), ((string?)one["id"], (string?)one["owned_by"]));
    }

    private static async Task<string> InferAsync(HttpClient client, string model, string version = "")
    {
        using var response = await client.PostAsync($"v2/models/{model}{version}/infer", Api.Json(InferBody()));
        var body = await response.JsonAsync(HttpStatusCode.OK);
        return body["outputs"]![0]!["data"]!.ToJsonString();
    }

    // The model_name of a successful inference answer on `path`.
    private static async Task<string?> AnsweredNameAsync(HttpClient client, string path, string? body = null)
    {
        using var response = await client.PostAsync(path, Api.Json(body ?? InferBody()));
        return (string?)(await response.JsonAsync(HttpStatusCode.OK))["model_name"];
    }

    // The status and body of a request naming `model` (in the path, or as the OpenAI "model" of a chat).
    private static async Task<(HttpStatusCode Status, string Text)> AnswerAsync(HttpClient client, string path, string model)
    {
        using var response = path.StartsWith("v1/", StringComparison.Ordinal)
            ? await client.PostAsync(path, Chat(model))
            : path.EndsWith("/infer", StringComparison.Ordinal)
                ? await client.PostAsync(string.Format(System.Globalization.CultureInfo.InvariantCulture, path, model), Api.Json(InferBody()))
                : await client.GetAsync(string.Format(System.Globalization.CultureInfo.InvariantCulture, path, model));
        return (response.StatusCode, await response.Content.ReadAsStringAsync());
    }

    private static StringContent Chat(string model) => Api.Json(new JsonObject
    {
        ["model"] = model,
        ["messages"] = new JsonArray(new JsonObject { ["role"] = "user", ["content"] = "hi" }),
        ["max_tokens"] = 1,
    }.ToJsonString());

    private static string InferBody() => """{"inputs": [{"name": "input", "datatype": "FP32", "shape": [1, 4], "data": [1.0, 2.0, 3.0, 4.0]}]}""";

    private static ModelInferRequest Infer(string model)
    {
        var request = new ModelInferRequest { ModelName = model };
        request.Inputs.Add(new ModelInferRequest.Types.InferInputTensor
        {
            Name = "input",
            Datatype = "FP32",
            Shape = { 1, 4 },
            Contents = new InferTensorContents { Fp32Contents = { 1, 2, 3, 4 } }
        });
        return request;
    }

    private static Dictionary<string, string> Auth(string key) => new() { ["authorization"] = "Bearer " + key };
}
