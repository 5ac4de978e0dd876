using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Maas.Server.Tests.Support;
using Maas.Testing;

namespace Maas.Server.Tests.Training;

/// <summary>One server with a fast-polling in-process training worker, shared by the training tests.</summary>
public sealed class TrainingServer : ServerPerDb
{
    /// <inheritdoc />
    protected override IReadOnlyDictionary<string, string?> Settings => new Dictionary<string, string?>
    {
        ["Maas:Training:PollMilliseconds"] = "100",
        ["Maas:Training:Threads"] = "2",
    };
}

/// <summary>Training through the API: datasets in, evaluated, registered, served versions out.</summary>
public sealed class TrainingApiTests(TrainingServer servers) : IClassFixture<TrainingServer>
{
    /// <summary>Creates a dataset with one version from <paramref name="content"/> and returns its name.</summary>
    public static async Task<string> DatasetAsync(HttpClient client, byte[] content, string fileName)
    {
        var name = Names.Unique("ds");
        await (await client.PostAsync("api/v1/datasets", Api.Json($$"""{"name": "{{name}}"}"""))).JsonAsync(HttpStatusCode.Created);
        await (await client.PostAsync($"api/v1/datasets/{name}/versions", MaasTestServer.Artifact(content, fileName))).JsonAsync(HttpStatusCode.Created);
        return name;
    }

    /// <summary>Submits a job and waits for it to end; returns the final job.</summary>
    public static async Task<JsonNode> TrainAsync(HttpClient client, string body, TimeSpan? timeout = null)
    {
        using var submitted = await client.PostAsync("api/v1/training/jobs", Api.Json(body));
        var job = await submitted.JsonAsync(HttpStatusCode.Accepted);
        Assert.Equal("queued", (string?)job["status"]);
        return await WaitAsync(client, (string)job["id"]!, timeout);
    }

    /// <summary>Polls a training job until it ends.</summary>
    public static Task<JsonNode> WaitAsync(HttpClient client, string id, TimeSpan? timeout = null) =>
        client.WaitForJobAsync(id, timeout ?? TimeSpan.FromMinutes(4), "api/v1/training/jobs");

    [Fact]
    public async Task A_tenant_sees_its_training_job_and_result_under_its_own_short_model_name()
    {
        var server = await servers.GetAsync(Db.Sqlite);
        var (client, tenant) = await server.TenantClientAsync("datasets:write", "datasets:read", "training:write", "training:read", "models:read", "models:write");
        using var _ = client;
        var dataset = await DatasetAsync(client, LineCsv.Bytes, "line.csv");
        var model = Names.Unique("line");

        var job = await TrainAsync(client, $$"""{"model": "{{model}}", "dataset": "{{dataset}}", "task": "regression", "label": "y", "trainer": "sdca"}""");
        Assert.True((string?)job["status"] == "succeeded", job.ToJsonString());
        Assert.Equal((model, model), ((string?)job["model"], (string?)job["result"]!["model"]));
        var listed = await (await client.GetAsync("api/v1/training/jobs")).JsonAsync(HttpStatusCode.OK);
        Assert.Equal(model, (string?)listed["jobs"]!.AsArray().Single(j => (string?)j!["id"] == (string?)job["id"])!["model"]);

        // The admin names it by owner and name.
        var seen = await (await server.Client.GetAsync($"api/v1/training/jobs/{job["id"]}")).JsonAsync(HttpStatusCode.OK);
        Assert.Equal($"{tenant}/{model}", (string?)seen["model"]);
    }

    [Fact]
    public async Task A_key_limited_to_some_models_neither_lists_nor_reaches_training_jobs_of_other_models()
    {
        var server = await servers.GetAsync(Db.Sqlite);
        var tenant = await server.NewTenantAsync();
        async Task<HttpClient> KeyAsync(params string[] models) =>
            server.CreateClient(await server.NewKeyAsync(tenant, ["datasets:write", "training:write", "models:write"], models));

        using var all = await KeyAsync();
        using var narrow = await KeyAsync("other-*");
        using var matching = await KeyAsync("line-*");
        var dataset = await DatasetAsync(all, LineCsv.Bytes, "line.csv");
        using var submitted = await all.PostAsync("api/v1/training/jobs",
            Api.Json($$"""{"model": "{{Names.Unique("line")}}", "dataset": "{{dataset}}", "task": "regression", "label": "y", "trainer": "sdca"}"""));
        var id = (string)(await submitted.JsonAsync(HttpStatusCode.Accepted))["id"]!;

        // As /api/v1/jobs/{id} already answered: the job of a model outside the key's list does not exist for it.
        await (await narrow.GetAsync($"api/v1/jobs/{id}")).ErrorAsync(HttpStatusCode.NotFound, "job_not_found");
        await (await narrow.GetAsync($"api/v1/training/jobs/{id}")).ErrorAsync(HttpStatusCode.NotFound, "job_not_found");
        await (await narrow.GetAsync($"api/v1/training/jobs/{id}/events")).ErrorAsync(HttpStatusCode.NotFound, "job_not_found");
        await (await narrow.PostAsync($"api/v1/training/jobs/{id}/cancel", null)).ErrorAsync(HttpStatusCode.NotFound, "job_not_found");
        var listed = await (await narrow.GetAsync("api/v1/training/jobs")).JsonAsync(HttpStatusCode.OK);
        Assert.DoesNotContain(listed["jobs"]!.AsArray(), j => (string?)j!["id"] == id);

        var seen = await (await matching.GetAsync("api/v1/training/jobs")).JsonAsync(HttpStatusCode.OK);
        Assert.Contains(seen["jobs"]!.AsArray(), j => (string?)j!["id"] == id);
        Assert.Equal(id, (string?)(await (await matching.GetAsync($"api/v1/training/jobs/{id}")).JsonAsync(HttpStatusCode.OK))["id"]);
        await WaitAsync(all, id);
    }

    [Fact]
    public async Task The_generic_job_routes_hold_a_training_job_to_the_training_scopes()
    {
        var server = await servers.GetAsync(Db.Sqlite);
        var tenant = await server.NewTenantAsync();
        async Task<HttpClient> KeyAsync(params string[] scopes) => server.CreateClient(await server.NewKeyAsync(tenant, scopes));

        using var trainer = await KeyAsync("datasets:write", "training:write");
        using var modelsWriter = await KeyAsync("models:write");
        using var trainingReader = await KeyAsync("training:read");
        var dataset = await DatasetAsync(trainer, LineCsv.Bytes, "line.csv");
        using var submitted = await trainer.PostAsync("api/v1/training/jobs",
            Api.Json($$"""{"model": "{{Names.Unique("line")}}", "dataset": "{{dataset}}", "task": "regression", "label": "y", "trainer": "sdca"}"""));
        var id = (string)(await submitted.JsonAsync(HttpStatusCode.Accepted))["id"]!;

        // A models:write key (which implies models:read) used to read and cancel training jobs at /api/v1/jobs: a key
        // given no training scope on purpose could stop the tenant's training. It is now refused before the job's state counts.
        await (await modelsWriter.DeleteAsync($"api/v1/jobs/{id}")).ErrorAsync(HttpStatusCode.Forbidden, "insufficient_scope");
        await (await modelsWriter.GetAsync($"api/v1/jobs/{id}")).ErrorAsync(HttpStatusCode.Forbidden, "insufficient_scope");
        await (await modelsWriter.GetAsync($"api/v1/jobs/{id}/events")).ErrorAsync(HttpStatusCode.Forbidden, "insufficient_scope");
        var listed = await (await modelsWriter.GetAsync("api/v1/jobs")).JsonAsync(HttpStatusCode.OK);
        Assert.DoesNotContain(listed["jobs"]!.AsArray(), j => (string?)j!["id"] == id);
        Assert.False((bool)(await (await trainer.GetAsync($"api/v1/training/jobs/{id}")).JsonAsync(HttpStatusCode.OK))["cancel_requested"]!);

        // A training:read key, refused by these routes before, now sees the job there as on the training routes.
        Assert.Equal(id, (string?)(await (await trainingReader.GetAsync($"api/v1/jobs/{id}")).JsonAsync(HttpStatusCode.OK))["id"]);
        var seen = await (await trainingReader.GetAsync("api/v1/jobs?kind=training")).JsonAsync(HttpStatusCode.OK);
        Assert.Contains(seen["jobs"]!.AsArray(), j => (string?)j!["id"] == id);
        await (await trainingReader.DeleteAsync($"api/v1/jobs/{id}")).ErrorAsync(HttpStatusCode.Forbidden, "insufficient_scope");
        await WaitAsync(trainer, id);
    }

    [Fact]
    public async Task A_tenant_may_have_only_so_many_jobs_unfinished_and_the_limit_is_reported()
    {
        // No worker here: every job stays queued, so the count is exact.
        await using var server = await MaasTestServer.StartAsync(settings: new Dictionary<string, string?>
        {
            ["Maas:Training:Workers"] = "0",
            ["Maas:Training:MaxUnfinishedJobsPerTenant"] = "2",
        });
        async Task<HttpClient> TenantAsync() => (await server.TenantClientAsync("datasets:write", "training:write", "models:write")).Client;

        using var busy = await TenantAsync();
        using var other = await TenantAsync();
        var csv = LineCsv.Bytes;
        async Task<HttpResponseMessage> SubmitAsync(HttpClient client, string dataset, string model) =>
            await client.PostAsync("api/v1/training/jobs",
            Api.Json($$"""{"model": "{{model}}", "dataset": "{{dataset}}", "task": "regression", "label": "y", "trainer": "sdca"}"""));

        var dataset = await DatasetAsync(busy, csv, "line.csv");
        var first = (string)(await (await SubmitAsync(busy, dataset, Names.Unique("m"))).JsonAsync(HttpStatusCode.Accepted))["id"]!;
        await (await SubmitAsync(busy, dataset, Names.Unique("m"))).JsonAsync(HttpStatusCode.Accepted);

        // Nothing stopped a tenant from queueing jobs without end, ahead of every other tenant's.
        var refusedModel = Names.Unique("m");
        var refused = await (await SubmitAsync(busy, dataset, refusedModel)).ErrorAsync(HttpStatusCode.TooManyRequests, "too_many_jobs");
        Assert.Equal(2, (int)refused["limit"]!);
        Assert.Contains("Maas:Training:MaxUnfinishedJobsPerTenant", (string?)refused["message"]);
        await (await busy.GetAsync($"api/v1/models/{refusedModel}")).ErrorAsync(HttpStatusCode.NotFound, "model_not_found");

        // Optimisation jobs count against the same limit.
        var source = await busy.CreateModelAsync();
        await busy.UploadAsync(source, TestArtifacts.Onnx(1), "model.onnx");
        await (await busy.PostAsync($"api/v1/models/{source}/versions/1:optimize", Api.Json("""{"method": "onnx-fp16"}"""))).ErrorAsync(HttpStatusCode.TooManyRequests,
            "too_many_jobs");

        // Another tenant is not held up; a cancelled job frees its place.
        await (await SubmitAsync(other, await DatasetAsync(other, csv, "line.csv"), Names.Unique("m"))).JsonAsync(HttpStatusCode.Accepted);
        await (await busy.DeleteAsync($"api/v1/training/jobs/{first}")).JsonAsync(HttpStatusCode.Accepted);
        await (await SubmitAsync(busy, dataset, Names.Unique("m"))).JsonAsync(HttpStatusCode.Accepted);
    }

    [Fact]
    public async Task Visibility_is_checked_whether_or_not_the_model_exists_and_a_missing_dataset_version_has_its_own_code()
    {
        var server = await servers.GetAsync(Db.Sqlite);
        var client = server.Client;
        var dataset = await DatasetAsync(client, LineCsv.Bytes, "line.csv");
        var existing = await client.CreateModelAsync();
        string Body(string model, string extra = "", string? datasetRef = null) =>
            $$"""{"model": "{{model}}", "dataset": "{{datasetRef ?? dataset}}", "task": "regression", "label": "y", "trainer": "sdca"{{extra}}}""";

        // "pub" was accepted and ignored for a model that exists; it was refused only for a new one.
        foreach (var model in new[] { existing, Names.Unique("new") })
        {
            var error = await (await client.PostAsync("api/v1/training/jobs", Api.Json(Body(model, ""","visibility": "pub" """)))).ErrorAsync(HttpStatusCode.BadRequest,
                "invalid_visibility");
            Assert.Contains("visibility", (string?)error["message"]);
        }

        var jobs = await (await client.GetAsync("api/v1/training/jobs")).JsonAsync(HttpStatusCode.OK);
        Assert.DoesNotContain(jobs["jobs"]!.AsArray(), j => (string?)j!["model"] == existing);

        // The codes docs/api.md lists: an unknown version of a dataset that exists is the more precise dataset_version_not_found.
        await (await client.PostAsync("api/v1/training/jobs", Api.Json(Body(Names.Unique("m"), datasetRef: dataset + ":9")))).ErrorAsync(HttpStatusCode.BadRequest,
            "dataset_version_not_found");
        await (await client.PostAsync("api/v1/training/jobs", Api.Json(Body(Names.Unique("m"), datasetRef: Names.Unique("nods"))))).ErrorAsync(HttpStatusCode.BadRequest,
            "dataset_not_found");
    }

    [Fact]
    public async Task A_result_the_registry_refuses_fails_the_job_with_the_registrys_code_not_an_internal_error()
    {
        var server = await servers.GetAsync(Db.Sqlite);
        var (client, tenant) = await server.TenantClientAsync("datasets:write", "training:write", "models:write");
        using var _ = client;
        var dataset = await DatasetAsync(client, LineCsv.Bytes, "line.csv");

        // Datasets count toward the quota too: it is lowered once the dataset is in.
        await (await server.Client.PatchAsync($"api/v1/tenants/{tenant}", Api.Json("""{"limits": {"storage_quota_bytes": 1}}"""))).JsonAsync(HttpStatusCode.OK);

        // The fit succeeds; registering its version would take the tenant past its 1-byte storage quota.
        var job = await TrainAsync(client, $$"""{"model": "{{Names.Unique("line")}}", "dataset": "{{dataset}}", "task": "regression", "label": "y", "trainer": "sdca"}""");
        Assert.True((string?)job["status"] == "failed", job.ToJsonString());
        Assert.Equal("storage_quota_exceeded", (string?)job["error"]!["code"]);
        Assert.Contains("storage quota of 1 bytes", (string?)job["error"]!["message"], StringComparison.Ordinal);
    }

    [Fact]
    public async Task Linear_regression_of_y_2x_plus_1_is_trained_registered_and_predicts_through_predict()
    {
        var client = (await servers.GetAsync(Db.Sqlite)).Client;
        var random = new Random(7);
        var csv = new StringBuilder("x,y\n");
        for (var i = 0; i < 100; i++)
        {
            var x = random.NextDouble() * 10;
            // Box-Muller: normal noise with sigma 0.5.
            var noise = 0.5 * Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());
            csv.Append(CultureInfo.InvariantCulture, $"{x:R},{(2 * x) + 1 + noise:R}\n");
        }

        var dataset = await DatasetAsync(client, Encoding.UTF8.GetBytes(csv.ToString()), "line.csv");
        var model = Names.Unique("line");
        var job = await TrainAsync(client, $$"""{"model": "{{model}}", "dataset": "{{dataset}}", "task": "regression", "label": "y"}""");
        Assert.True((string?)job["status"] == "succeeded", job.ToJsonString());
        Assert.Equal("sdca", (string?)job["trainer"]);
        Assert.Equal(100, (double)job["progress"]!);
        Assert.Equal(model, (string?)job["result"]!["model"]);
        var number = (int)job["result"]!["version"]!;

        var version = await (await client.GetAsync($"api/v1/models/{model}/versions/{number}")).JsonAsync(HttpStatusCode.OK);
        Assert.Equal("onnx", (string?)version["format"]);
        Assert.Equal(["x"], version["signature"]!["inputs"]!.AsArray().Select(i => (string?)i!["name"]));
        Assert.True((double)version["evaluation"]!["r2"]! > 0.95, version["evaluation"]!.ToJsonString());
        Assert.True((double)version["evaluation"]!["rmse"]! < 1.0);
        Assert.Equal(dataset, (string?)version["lineage"]!["dataset"]!["name"]);
        Assert.Equal(1, (int)version["lineage"]!["dataset"]!["version"]!);
        Assert.Equal(Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(Encoding.UTF8.GetBytes(csv.ToString()))),
            (string?)version["lineage"]!["dataset"]!["sha256"]);
        Assert.Equal((string?)job["id"], (string?)version["lineage"]!["job"]);
        Assert.Equal("sdca", (string?)version["lineage"]!["trainer"]);
        Assert.Equal(42, (int)version["lineage"]!["seed"]!);
        Assert.NotNull(version["lineage"]!["hyperparameters"]);

        var answer = await (await client.PostAsync($"api/v1/models/{model}/predict",
            Api.Json("""{"instances": [{"x": 2}, {"x": 3}, {"x": 4}, {"x": 5}]}"""))).JsonAsync(HttpStatusCode.OK);
        var predictions = answer["predictions"]!.AsArray().Select(p => (double)p!).ToArray();
        Assert.Equal(4, predictions.Length);
        for (var i = 0; i < 4; i++)
        {
            var x = i + 2;
            Assert.True(Math.Abs(predictions[i] - ((2 * x) + 1)) <= 0.5, $"x = {x}: predicted {predictions[i]}, expected {(2 * x) + 1} within 0.5");
        }

        // The same rows as a CSV with a header (here with the label column, as the dataset's file has it): the label is
        // left out and named, the answers are the JSON route's; TSV and JSON Lines read the same way.
        var table = await (await client.PostAsync($"api/v1/models/{model}/predict", Rows("text/csv", "y,x\n100,2\n100,3\n,4\n-1,5\n"))).JsonAsync(HttpStatusCode.OK);
        Assert.Equal(predictions, table["predictions"]!.AsArray().Select(p => (double)p!));
        Assert.Equal(["y"], table["ignored_columns"]!.AsArray().Select(c => (string?)c));
        var tsv = await (await client.PostAsync($"api/v1/models/{model}/predict", Rows("text/tab-separated-values; charset=utf-8", "x\n2\n5\n"))).JsonAsync(HttpStatusCode.OK);
        Assert.Equal([predictions[0], predictions[3]], tsv["predictions"]!.AsArray().Select(p => (double)p!));
        var lines = await (await client.PostAsync($"api/v1/models/{model}/predict",
            Rows("application/x-ndjson", "{\"x\": 3}\n{\"x\": 4, \"id\": \"a\"}\n"))).JsonAsync(HttpStatusCode.OK);
        Assert.Equal([predictions[1], predictions[2]], lines["predictions"]!.AsArray().Select(p => (double)p!));
        Assert.Equal(["id"], lines["ignored_columns"]!.AsArray().Select(c => (string?)c));
        Assert.Contains("no rows", (string?)(await (await client.PostAsync($"api/v1/models/{model}/predict", Rows("text/csv", "x\n"))).ErrorAsync(HttpStatusCode.BadRequest,
            "invalid_input"))["message"], StringComparison.Ordinal);
        Assert.Contains("no column of the table is a feature", (string?)(await (await client.PostAsync($"api/v1/models/{model}/predict",
            Rows("text/csv", "z\n2\n"))).ErrorAsync(HttpStatusCode.BadRequest, "invalid_input"))["message"], StringComparison.Ordinal);
        Assert.Contains("not valid CSV: line 2", (string?)(await (await client.PostAsync($"api/v1/models/{model}/predict",
            Rows("text/csv", "x,y\n2\n"))).ErrorAsync(HttpStatusCode.BadRequest, "invalid_input"))["message"], StringComparison.Ordinal);
        Assert.Contains("must be a number", (string?)(await (await client.PostAsync($"api/v1/models/{model}/predict",
            Rows("text/csv", "x\ntwo\n"))).ErrorAsync(HttpStatusCode.BadRequest, "invalid_input"))["message"], StringComparison.Ordinal);

        // Bad rows are the caller's mistake, in the management API's error format.
        await (await client.PostAsync($"api/v1/models/{model}/predict", Api.Json("""{"instances": [{"z": 2}]}"""))).ErrorAsync(HttpStatusCode.BadRequest, "invalid_input");
        await (await client.PostAsync($"api/v1/models/{model}/predict", Api.Json("""{"instances": [{"x": "two"}]}"""))).ErrorAsync(HttpStatusCode.BadRequest, "invalid_input");
        await (await client.PostAsync($"api/v1/models/{model}/predict", Api.Json("""{"instances": []}"""))).ErrorAsync(HttpStatusCode.BadRequest, "invalid_input");

        // The dataset is now named by the version's lineage: deleting it needs force.
        await (await client.DeleteAsync($"api/v1/datasets/{dataset}/versions/1")).ErrorAsync(HttpStatusCode.Conflict, "dataset_in_use");
        await (await client.DeleteAsync($"api/v1/datasets/{dataset}")).ErrorAsync(HttpStatusCode.Conflict, "dataset_in_use");

        var events = await (await client.GetAsync($"api/v1/training/jobs/{job["id"]}/events")).JsonAsync(HttpStatusCode.OK);
        var types = events["events"]!.AsArray().Select(e => (string?)e!["type"]).ToArray();
        Assert.Contains("checkpoint", types);
        Assert.Contains("metrics", types);
        Assert.Equal("succeeded", (string?)events["events"]!.AsArray().Last()!["data"]!["status"]);
    }

    private static ByteArrayContent Rows(string contentType, string text)
    {
        var content = new ByteArrayContent(Encoding.UTF8.GetBytes(text));
        content.Headers.ContentType = System.Net.Http.Headers.MediaTypeHeaderValue.Parse(contentType);
        return content;
    }

    [SharedDatasetFact("iris.csv")]
    public Task Iris_reaches_090_test_accuracy_and_the_served_model_agrees_with_mlnet_on_every_test_row() =>
        ClassifiesAsync("iris.csv", "species", "lightgbm", """, "hyperparameters": {"iterations": 50, "min_examples_per_leaf": 5}""");

    [SharedDatasetFact("digits.csv")]
    public Task Digits_reach_090_test_accuracy_and_the_served_model_agrees_with_mlnet_on_every_test_row() =>
        ClassifiesAsync("digits.csv", "digit", "sdca", "");

    private async Task ClassifiesAsync(string file, string label, string trainer, string extra)
    {
        var client = (await servers.GetAsync(Db.Sqlite)).Client;
        var bytes = await File.ReadAllBytesAsync(SharedDatasets.PathOf(file));
        var dataset = await DatasetAsync(client, bytes, file);
        var model = Names.Unique("cls");
        var job = await TrainAsync(client, $$"""{"model": "{{model}}", "dataset": "{{dataset}}:1", "task": "multiclass-classification", "label": "{{label}}", "trainer":""" +
            $$""" "{{trainer}}", "split": {"validation": 0.1, "test": 0.2, "seed": 5}{{extra}}}""");
        Assert.True((string?)job["status"] == "succeeded", job.ToJsonString());
        var evaluation = job["result"]!["evaluation"]!;
        Assert.True((double)evaluation["accuracy"]! >= 0.9, evaluation.ToJsonString());
        Assert.True((double)evaluation["macro_f1"]! > 0.85, evaluation.ToJsonString());
        Assert.NotNull(evaluation["log_loss"]);
        Assert.NotNull(evaluation["confusion_matrix"]);
        Assert.NotNull(evaluation["per_class"]);

        // The job ran the exported model on ONNX Runtime over every test row: no row disagreed with ML.NET.
        var check = evaluation["onnx_check"]!;
        Assert.Equal((int)evaluation["rows"]!, (int)check["rows"]!);
        Assert.Equal(0, (int)check["mismatches"]!);
        Assert.True((double)check["max_abs_diff"]! < 1e-4, check.ToJsonString());

        // Served through /predict, the whole file is classified like the evaluation says.
        var text = Encoding.UTF8.GetString(bytes).Split(["\r\n", "\n"], StringSplitOptions.RemoveEmptyEntries);
        var header = text[0].Split(',');
        var labelIndex = Array.IndexOf(header, label);
        var instances = new JsonArray();
        var truth = new List<string>();
        foreach (var line in text.Skip(1))
        {
            var cells = line.Split(',');
            var instance = new JsonObject();
            for (var c = 0; c < header.Length; c++)
            {
                if (c != labelIndex)
                {
                    instance[header[c]] = double.Parse(cells[c], CultureInfo.InvariantCulture);
                }
            }

            instances.Add(instance);
            truth.Add(cells[labelIndex]);
        }

        var answer = await (await client.PostAsync($"api/v1/models/{model}/predict",
            Api.Json(new JsonObject { ["instances"] = instances }.ToJsonString()))).JsonAsync(HttpStatusCode.OK);
        var predictions = answer["predictions"]!.AsArray();
        Assert.Equal(truth.Count, predictions.Count);
        var correct = 0;
        for (var i = 0; i < truth.Count; i++)
        {
            var predicted = predictions[i]!["label"]!.ToJsonString().Trim('"');
            correct += predicted == truth[i] ? 1 : 0;
            var probabilities = predictions[i]!["probabilities"]!.AsObject();
            Assert.Equal(1.0, probabilities.Sum(p => (double)p.Value!), 3);
        }

        Assert.True(correct >= 0.9 * truth.Count, $"{correct} of {truth.Count} rows classified right through /predict");

        // The dataset's own file as the body: the label column is left out, the answers are the same.
        using var body = new ByteArrayContent(bytes);
        body.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("text/csv");
        var fromFile = await (await client.PostAsync($"api/v1/models/{model}/predict", body)).JsonAsync(HttpStatusCode.OK);
        Assert.Equal(predictions.Select(p => p!.ToJsonString()), fromFile["predictions"]!.AsArray().Select(p => p!.ToJsonString()));
        Assert.Equal([label], fromFile["ignored_columns"]!.AsArray().Select(c => (string?)c));
    }
}
