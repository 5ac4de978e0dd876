using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Maas.Core.Formats.Onnx;
using Maas.Core.Registry;
using Maas.Core.Tenancy;
using Maas.Server.Tests.Support;
using Maas.Server.Tests.Tenancy;
using Microsoft.Extensions.DependencyInjection;

namespace Maas.Server.Tests.Optimization;

/// <summary>
/// :optimize as a hostile but fair caller uses it: input the server did not write itself (metadata a version holds
/// that MaaS cannot read, odd values) gets a 400 naming what is wrong, never a 500 or a job that cannot end well.
/// </summary>
public sealed class OptimizationHostileInputTests(OptimizationHostFixture fixture) : IClassFixture<OptimizationHostFixture>
{
    private TenancyHost Host => fixture.Host;

    // An MLP 4 -> 8 -> 3 with softmax scores, and rows of four numbers labelled 0, 1 or 2.
    private static byte[] Mlp() => OnnxModelWriter.Mlp(4, [8], 3, seed: 5, softmax: true).ToBytes();

    private async Task<string> RowsAsync(HttpClient client)
    {
        var name = Names.Unique("rows");
        await (await client.PostAsync("api/v1/datasets", Api.Json($$"""{"name": "{{name}}"}"""))).JsonAsync(HttpStatusCode.Created);
        var csv = new StringBuilder("a,b,c,d,label\n");
        for (var r = 0; r < 30; r++)
        {
            csv.Append($"{r % 5},{r % 7},{r % 3},{r % 2},{r % 3}\n");
        }

        using var uploaded = await client.PostAsync($"api/v1/datasets/{name}/versions", MaasTestServer.Artifact(Encoding.UTF8.GetBytes(csv.ToString()), "rows.csv"));
        await uploaded.JsonAsync(HttpStatusCode.Created);
        return name;
    }

    // Clients may not set maas.* metadata (400 reserved_metadata), but a version may still hold values MaaS cannot
    // read: stored before the keys were reserved, or by another tool writing the database. The test writes them as
    // the server would, after a plain upload.
    private async Task<int> UploadAsync(HttpClient client, string model, string metadata)
    {
        var version = (int)(await client.UploadAsync(model, Mlp(), "model.onnx"))["version"]!;
        var registry = Host.Server.Services.GetRequiredService<IModelRegistry>();
        foreach (var (key, value) in JsonNode.Parse(metadata)!.AsObject())
        {
            await registry.SetVersionMetadataAsync(model, version, key, (string?)value, CancellationToken.None);
        }

        return version;
    }

    [Theory]
    [InlineData("""{"maas.image": "not json"}""", "evaluation", "evaluation_not_applicable", "maas.image")]
    [InlineData("""{"maas.image": "{}"}""", "evaluation", "evaluation_not_applicable", "maas.image")]
    [InlineData("""{"maas.image": "{\"classes\": [\"a\", \"b\"], \"shape\": [\"1\", 2, 2]}"}""", "evaluation", "evaluation_not_applicable", "maas.image")]
    [InlineData("""{"maas.image": "[1, 2]"}""", "fine_tune", "fine_tune_not_applicable", "maas.image")]
    [InlineData("""{"maas.tabular": "not json"}""", "evaluation", "evaluation_not_applicable", "maas.tabular")]
    [InlineData("""{"maas.tabular": "null"}""", "evaluation", "evaluation_not_applicable", "maas.tabular")]
    [InlineData("""{"maas.tabular": "{\"task\": \"binary-classification\", \"features\": [null], \"score_output\": \"output\"}"}""", "evaluation", "evaluation_not_applicable",
        "maas.tabular")]
    public async Task Training_metadata_an_upload_set_that_MaaS_cannot_read_is_a_400_naming_the_key_and_queues_nothing(string metadata, string option, string code, string key)
    {
        var client = Host.Admin;
        var model = await client.CreateModelAsync();
        var version = await UploadAsync(client, model, metadata);
        var rows = await RowsAsync(client);
        var body = option == "evaluation"
            ? $$"""{"method": "onnx-fp16", "options": {"evaluation": {"dataset": "{{rows}}", "label": "label"} } }"""
            : $$"""{"method": "prune-magnitude", "options": {"sparsity": 0.5, "fine_tune": {"dataset": "{{rows}}", "label": "label"} } }""";

        using var response = await client.PostAsync($"api/v1/models/{model}/versions/{version}:optimize", Api.Json(body));

        var error = await response.ErrorAsync(HttpStatusCode.BadRequest, code);
        Assert.Contains($"metadata {key}", (string?)error["message"], StringComparison.Ordinal);
        var jobs = await (await client.GetAsync("api/v1/jobs?kind=optimization&limit=1000")).JsonAsync(HttpStatusCode.OK);
        Assert.DoesNotContain(jobs["jobs"]!.AsArray(), j => (string?)j!["model"] == model);
    }

    [Theory]
    [InlineData("""{"maas.tabular": "not json"}""")]
    [InlineData("""{"maas.tabular": "{\"task\": \"regression\", \"features\": [null], \"score_output\": \"output\"}"}""")]
    public async Task Table_metadata_an_upload_set_that_MaaS_cannot_read_makes_predict_of_instances_a_400_naming_the_key(string metadata)
    {
        var client = Host.Admin;
        var model = await client.CreateModelAsync();
        await UploadAsync(client, model, metadata);

        using var response = await client.PostAsync($"api/v1/models/{model}/predict", Api.Json("""{"instances": [{"a": 1, "b": 2, "c": 3, "d": 4}]}"""));

        var error = await response.ErrorAsync(HttpStatusCode.BadRequest, "invalid_input");
        Assert.Contains("'maas.tabular' metadata MaaS cannot read", (string?)error["message"], StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_lineage_an_upload_set_that_MaaS_cannot_read_gives_no_defaults_and_the_request_goes_on_without_it()
    {
        var client = Host.Admin;
        var model = await client.CreateModelAsync();
        var rows = await RowsAsync(client);
        var tabular = """{"task": "multiclass-classification", "features": [{"name": "a", "type": "number"}], "classes": ["0", "1", "2"], "score_output": "output"}""";
        var metadata = new JsonObject { ["maas.tabular"] = tabular, ["maas.lineage"] = """{"label": 7, "split": {"test": "x"}}""" }.ToJsonString();
        var version = await UploadAsync(client, model, metadata);

        // A split in the lineage that is no split gives no default (it was a 500 while the lineage was read blindly);
        // this model's metadata lies about its inputs too, which the job finds and says.
        using (var response = await client.PostAsync($"api/v1/models/{model}/versions/{version}:optimize",
            Api.Json($$"""{"method": "onnx-fp16", "options": {"evaluation": {"dataset": "{{rows}}", "label": "label"} } }""")))
        {
            var job = await client.WaitForJobAsync((string)(await response.JsonAsync(HttpStatusCode.Accepted))["id"]!, TimeSpan.FromMinutes(2));
            Assert.Equal("failed", (string?)job["status"]);
            Assert.Equal("cannot_measure", (string?)job["error"]!["code"]);
        }

        // A lineage that is no JSON names no label: the request must.
        var broken = await UploadAsync(client, model, new JsonObject { ["maas.tabular"] = tabular, ["maas.lineage"] = "not json" }.ToJsonString());
        using (var response = await client.PostAsync($"api/v1/models/{model}/versions/{broken}:optimize",
            Api.Json($$"""{"method": "onnx-fp16", "options": {"evaluation": {"dataset": "{{rows}}"} } }""")))
        {
            var error = await response.ErrorAsync(HttpStatusCode.BadRequest, "invalid_evaluation");
            Assert.Contains("options.evaluation.label is required", (string?)error["message"], StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Evaluation_classes_must_be_finite_numbers_or_strings()
    {
        var client = Host.Admin;
        var model = await client.CreateModelAsync();
        await client.UploadAsync(model, Mlp(), "model.onnx");
        var rows = await RowsAsync(client);

        // 1e400 is no double: it was read as infinity and compared with the labels as the text "Infinity".
        using var response = await client.PostAsync($"api/v1/models/{model}/versions/1:optimize",
            Api.Json($$"""{"method": "onnx-fp16", "options": {"evaluation": {"dataset": "{{rows}}", "label": "label", "classes": [1e400, 1, 2]} } }"""));

        var error = await response.ErrorAsync(HttpStatusCode.BadRequest, "invalid_evaluation");
        Assert.Contains("options.evaluation.classes", (string?)error["message"], StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("onnx-fp16 ", "evaluation", "{\"dataset\": \"{0}\", \"label\": \"label\", \"dataset\": \"{0}\"}", "'dataset' is given more than once")]
    [InlineData("prune-magnitude \"sparsity\": 0.5,", "fine_tune", "{\"dataset\": \"{0}\", \"dataset\": \"{0}\"}", "'dataset' is given more than once")]
    [InlineData("onnx-fp16 ", "samples", "1, \"samples\": 2", "'samples' is given more than once")]
    public async Task A_key_given_twice_in_an_option_object_is_a_400_naming_it(string methodAndOptions, string option, string body, string message)
    {
        var method = methodAndOptions.Split(' ', 2)[0];
        var otherOptions = methodAndOptions.Split(' ', 2)[1];
        var client = Host.Admin;
        var model = await client.CreateModelAsync();
        await client.UploadAsync(model, Mlp(), "model.onnx");
        var rows = await RowsAsync(client);

        // It used to throw building the option's dictionary: a 500. Now the body reader refuses it, as on every route.
        var value = body.Replace("{0}", rows, StringComparison.Ordinal);
        using var response = await client.PostAsync($"api/v1/models/{model}/versions/1:optimize",
            Api.Json($$"""{"method": "{{method}}", "options": {{{otherOptions}} "{{option}}": {{value}} } }"""));

        var error = await response.ErrorAsync(HttpStatusCode.BadRequest, "invalid_json");
        Assert.Contains(message, (string?)error["message"], StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_key_limited_to_some_models_or_without_models_write_cannot_optimise_others_nor_see_their_jobs()
    {
        var (tenant, _, owner) = await Host.TenantWithKeyAsync(MaasScopes.ModelsRead, MaasScopes.ModelsWrite, MaasScopes.DatasetsRead, MaasScopes.DatasetsWrite);
        var mine = await owner.CreateModelAsync();
        var other = await owner.CreateModelAsync();
        await owner.UploadAsync(mine, Mlp(), "model.onnx");
        await owner.UploadAsync(other, Mlp(), "model.onnx");
        var rows = await RowsAsync(owner);
        var (_, limitedSecret) = await Host.CreateKeyAsync(tenant, [MaasScopes.ModelsRead, MaasScopes.ModelsWrite, MaasScopes.DatasetsRead], models: [mine]);
        var (_, trainingSecret) = await Host.CreateKeyAsync(tenant, [MaasScopes.TrainingRead, MaasScopes.TrainingWrite, MaasScopes.DatasetsRead]);
        var limited = Host.Client(limitedSecret);
        var evaluation = $$"""{"method": "onnx-fp16", "options": {"evaluation": {"dataset": "{{rows}}", "label": "label"} } }""";

        // Another model of the same tenant is as unknown to the limited key as to a stranger, evaluated or not.
        foreach (var body in new[] { """{"method": "onnx-fp16"}""", evaluation })
        {
            using var refused = await limited.PostAsync($"api/v1/models/{other}/versions/1:optimize", Api.Json(body));
            await refused.ErrorAsync(HttpStatusCode.NotFound, "model_not_found");
        }

        using (var refused = await Host.Client(trainingSecret).PostAsync($"api/v1/models/{mine}/versions/1:optimize", Api.Json(evaluation)))
        {
            var error = await refused.ErrorAsync(HttpStatusCode.Forbidden, "insufficient_scope");
            Assert.Contains("models:write", (string?)error["message"], StringComparison.Ordinal);
        }

        // Its own model it may; the owner's job of the other model it can neither read, page through nor cancel.
        using (var allowed = await limited.PostAsync($"api/v1/models/{mine}/versions/1:optimize", Api.Json(evaluation)))
        {
            Assert.Equal("succeeded", (string?)(await limited.WaitForJobAsync((string)(await allowed.JsonAsync(HttpStatusCode.Accepted))["id"]!,
                TimeSpan.FromMinutes(2)))["status"]);
        }

        using var started = await owner.PostAsync($"api/v1/models/{other}/versions/1:optimize", Api.Json("""{"method": "onnx-fp16"}"""));
        var id = (string)(await started.JsonAsync(HttpStatusCode.Accepted))["id"]!;
        await (await limited.GetAsync($"api/v1/jobs/{id}")).ErrorAsync(HttpStatusCode.NotFound, "job_not_found");
        await (await limited.GetAsync($"api/v1/jobs/{id}/events")).ErrorAsync(HttpStatusCode.NotFound, "job_not_found");
        await (await limited.DeleteAsync($"api/v1/jobs/{id}")).ErrorAsync(HttpStatusCode.NotFound, "job_not_found");
        var listed = await (await limited.GetAsync("api/v1/jobs?kind=optimization&limit=1000")).JsonAsync(HttpStatusCode.OK);
        Assert.DoesNotContain(listed["jobs"]!.AsArray(), j => (string?)j!["id"] == id);
        Assert.Equal("succeeded", (string?)(await owner.WaitForJobAsync(id, TimeSpan.FromMinutes(2)))["status"]);
    }

    [Theory]
    [InlineData("""{"samples": "8"}""", "options.samples must be a whole number from 1 to 256, not a string ('8')")]
    [InlineData("""{"samples": 1e400}""", "options.samples must be a whole number from 1 to 256, not 1e400")]
    [InlineData("""{"seed": -1}""", "options.seed must be a whole number from 0 to 2147483647, not -1")]
    [InlineData("""{"throughput_batch": true}""", "options.throughput_batch must be a whole number from 1 to 1024, not a boolean")]
    public async Task An_option_of_the_wrong_type_or_out_of_range_is_refused_naming_what_it_takes_and_what_it_got(string options, string message)
    {
        var client = Host.Admin;
        var model = await client.CreateModelAsync();
        await client.UploadAsync(model, Mlp(), "model.onnx");

        using var response = await client.PostAsync($"api/v1/models/{model}/versions/1:optimize", Api.Json($$"""{"method": "onnx-fp16", "options": {{options}} }"""));

        var error = await response.ErrorAsync(HttpStatusCode.BadRequest, "invalid_options");
        Assert.Equal(message, (string?)error["message"]); // "options.samples must be a number" named no range
    }
}
