using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Maas.Core.Jobs.Queue;
using Maas.Server.Tests.Support;
using Maas.Server.Tests.Training;
using Maas.Testing;
using Maas.Training;
using Microsoft.Extensions.DependencyInjection;

namespace Maas.Server.Tests.Evaluation;

/// <summary>Evaluating a version MaaS trained on another labelled dataset: POST/GET /api/v1/models/{name}/versions/{n}/evaluations.</summary>
public sealed class EvaluationApiTests(TrainingServer servers) : IClassFixture<TrainingServer>
{
    private static readonly string[] Classes = ["a", "b", "c"];

    /// <summary>
    /// Three well-apart clusters (a near (0, 0), b near (10, 0), c near (0, 10)); row i is of class i % 3, and the rows
    /// listed in <paramref name="flipped"/> carry the next class's label instead of their own.
    /// </summary>
    public static byte[] Clusters(int rows, IReadOnlySet<int>? flipped = null, bool withX2 = true)
    {
        var text = new StringBuilder(withX2 ? "x1,x2,cls\n" : "x1,cls\n");
        for (var i = 0; i < rows; i++)
        {
            var c = i % 3;
            var jitter = (i % 7) * 0.1;
            var x1 = (c == 1 ? 10 : 0) + jitter;
            var x2 = (c == 2 ? 10 : 0) - jitter;
            var label = Classes[flipped?.Contains(i) == true ? (c + 1) % 3 : c];
            text.Append(CultureInfo.InvariantCulture, $"{x1}");
            if (withX2)
            {
                text.Append(CultureInfo.InvariantCulture, $",{x2}");
            }

            text.Append(CultureInfo.InvariantCulture, $",{label}\n");
        }

        return Encoding.UTF8.GetBytes(text.ToString());
    }

    /// <summary>A tenant with a key of every scope but admin; the client of that key.</summary>
    private static Task<(HttpClient Client, string Tenant)> TenantClientAsync(MaasTestServer server) =>
        server.TenantClientAsync("datasets:write", "datasets:read", "training:write", "training:read", "models:read", "models:write");

    private static async Task<HttpClient> KeyClientAsync(MaasTestServer server, string tenant, params string[] scopes) =>
        server.CreateClient(await server.NewKeyAsync(tenant, scopes));

    internal static async Task<string> TrainAsync(HttpClient client)
    {
        var dataset = await TrainingApiTests.DatasetAsync(client, Clusters(90), "train.csv");
        var model = Names.Unique("clusters");
        var job = await TrainingApiTests.TrainAsync(client,
            $$"""{"model": "{{model}}", "dataset": "{{dataset}}", "task": "multiclass-classification", "label": "cls", "trainer": "lbfgs"}""");
        Assert.True((string?)job["status"] == "succeeded", job.ToJsonString());
        return model;
    }

    private static async Task<JsonNode> EvaluateAsync(HttpClient client, string model, string body)
    {
        using var submitted = await client.PostAsync($"api/v1/models/{model}/versions/1/evaluations", Api.Json(body));
        var job = await submitted.JsonAsync(HttpStatusCode.Accepted);
        Assert.Equal(("evaluation", "queued"), ((string?)job["kind"], (string?)job["status"]));
        Assert.NotNull(job["dataset"]!["name"]);
        var ended = await client.WaitForJobAsync((string)job["id"]!, TimeSpan.FromMinutes(2));
        Assert.True((string?)ended["status"] == "succeeded", ended.ToJsonString());
        return ended;
    }

    [Fact]
    public async Task A_trained_version_scores_another_dataset_and_flipped_labels_lower_its_accuracy_by_their_share()
    {
        var server = await servers.GetAsync(Db.Sqlite);
        var (client, tenant) = await TenantClientAsync(server);
        using var owned = client;
        var model = await TrainAsync(client);

        // The clusters are far apart: on fresh rows of them the version is right on every one.
        var clean = await TrainingApiTests.DatasetAsync(client, Clusters(30), "clean.csv");
        var cleanJob = await EvaluateAsync(client, model, $$"""{"dataset": "{{clean}}"}""");
        var result = cleanJob["result"]!;
        Assert.Equal(1.0, (double)result["accuracy"]!);
        Assert.Equal(30, (int)result["rows"]!);
        Assert.Equal("cls", (string?)result["label"]);
        Assert.Equal((clean, 1), ((string?)result["dataset"]!["name"], (int)result["dataset"]!["version"]!));
        Assert.Equal(64, ((string?)result["dataset"]!["sha256"])!.Length);
        foreach (var metric in new[] { "macro_precision", "macro_recall", "macro_f1", "log_loss" })
        {
            Assert.NotNull(result[metric]);
        }

        Assert.Equal(Classes, result["confusion_matrix"]!["labels"]!.AsArray().Select(l => (string?)l));
        Assert.Equal(1.0, (double)result["per_class"]!["b"]!["recall"]!);
        Assert.Equal(100, (double)cleanJob["progress"]!);
        var events = await (await client.GetAsync($"api/v1/jobs/{cleanJob["id"]}/events")).JsonAsync(HttpStatusCode.OK);
        Assert.Contains(events["events"]!.AsArray(), e => (string?)e!["type"] == "progress" && (string?)e["data"]!["stage"] == "scoring");

        // 6 of 30 labels flipped to another class: the same version is now wrong on exactly those rows.
        var flipped = await TrainingApiTests.DatasetAsync(client, Clusters(30, new HashSet<int> { 0, 4, 8, 13, 20, 29 }), "flipped.csv");
        var flippedJob = await EvaluateAsync(client, model, $$"""{"dataset": {"name": "{{flipped}}", "version": 1}, "label": "cls"}""");
        Assert.Equal(24.0 / 30, (double)flippedJob["result"]!["accuracy"]!, 12);
        var matrix = flippedJob["result"]!["confusion_matrix"]!["matrix"]!.AsArray();
        Assert.Equal(24, Enumerable.Range(0, 3).Sum(i => (int)matrix[i]![i]!));

        // limit scores the first rows only (rows 0 and 4 of the first 5 are flipped).
        var limited = await EvaluateAsync(client, model, $$"""{"dataset": "{{flipped}}:1", "limit": 5}""");
        Assert.Equal((5, 3.0 / 5), ((int)limited["result"]!["rows"]!, (double)limited["result"]!["accuracy"]!));

        // The version's evaluations, with their results; the jobs list filters them by kind too.
        var listed = await (await client.GetAsync($"api/v1/models/{model}/versions/1/evaluations")).JsonAsync(HttpStatusCode.OK);
        Assert.Equal(
            new[] { (string?)limited["id"], (string?)flippedJob["id"], (string?)cleanJob["id"] }.Order(),
            listed["evaluations"]!.AsArray().Select(j => (string?)j!["id"]).Order());
        Assert.All(listed["evaluations"]!.AsArray(), j => Assert.NotNull(j!["result"]!["accuracy"]));

        // Each names what it scored outside its result too (a queued or failed one has no result).
        var limitedView = listed["evaluations"]!.AsArray().Single(j => (string?)j!["id"] == (string?)limited["id"])!;
        Assert.Equal(
            ((string?)limited["result"]!["dataset"]!["name"], 1, "cls", 5),
            ((string?)limitedView["dataset"]!["name"], (int)limitedView["dataset"]!["version"]!, (string?)limitedView["label"], (int?)limitedView["limit"]));
        Assert.Null(listed["evaluations"]!.AsArray().Single(j => (string?)j!["id"] == (string?)cleanJob["id"])!["limit"]);
        var jobs = await (await client.GetAsync("api/v1/jobs?kind=evaluation")).JsonAsync(HttpStatusCode.OK);
        Assert.Equal(3, jobs["jobs"]!.AsArray().Count);
    }

    [Fact]
    public async Task A_regression_version_reports_mae_rmse_and_r2_and_refuses_a_text_label()
    {
        var server = await servers.GetAsync(Db.Sqlite);
        var (client, _) = await TenantClientAsync(server);
        using var owned = client;
        string Line(int rows, double offset) =>
            "x,y,note\n" + string.Concat(Enumerable.Range(0, rows).Select(i => string.Create(CultureInfo.InvariantCulture, $"{i},{(2 * i) + 1 + offset},n{i}\n")));
        var dataset = await TrainingApiTests.DatasetAsync(client, Encoding.UTF8.GetBytes(Line(40, 0)), "line.csv");
        var model = Names.Unique("line");
        var trained = await TrainingApiTests.TrainAsync(client,
            $$"""{"model": "{{model}}", "dataset": "{{dataset}}", "task": "regression", "label": "y", "features": ["x"], "trainer": "sdca"}""");
        Assert.True((string?)trained["status"] == "succeeded", trained.ToJsonString());

        // Every label 100 above the line: the errors are about 100 each, and the line explains none of the spread.
        var shifted = await TrainingApiTests.DatasetAsync(client, Encoding.UTF8.GetBytes(Line(20, 100)), "shifted.csv");
        var result = (await EvaluateAsync(client, model, $$"""{"dataset": "{{shifted}}"}"""))["result"]!;
        Assert.Equal(20, (int)result["rows"]!);
        Assert.InRange((double)result["mae"]!, 90, 110);
        Assert.InRange((double)result["rmse"]!, 90, 110);
        Assert.True((double)result["r2"]! < 0, result.ToJsonString());

        var text = await (await client.PostAsync($"api/v1/models/{model}/versions/1/evaluations",
            Api.Json($$"""{"dataset": "{{shifted}}", "label": "note"}"""))).ErrorAsync(HttpStatusCode.BadRequest, "invalid_label");
        Assert.Equal("note", (string?)text["column"]);
    }

    [Fact]
    public async Task A_dataset_without_a_feature_column_another_tenants_dataset_and_an_uploaded_onnx_version_are_refused()
    {
        var server = await servers.GetAsync(Db.Sqlite);
        var (client, tenant) = await TenantClientAsync(server);
        using var owned = client;
        var model = await TrainAsync(client);

        var noX2 = await TrainingApiTests.DatasetAsync(client, Clusters(12, withX2: false), "nox2.csv");
        var missing = await (await client.PostAsync($"api/v1/models/{model}/versions/1/evaluations",
            Api.Json($$"""{"dataset": "{{noX2}}"}"""))).ErrorAsync(HttpStatusCode.BadRequest, "missing_column");
        Assert.Equal("x2", (string?)missing["column"]);
        Assert.Contains("'x2'", (string?)missing["message"], StringComparison.Ordinal);

        var clean = await TrainingApiTests.DatasetAsync(client, Clusters(12), "clean.csv");
        await (await client.PostAsync($"api/v1/models/{model}/versions/1/evaluations",
            Api.Json($$"""{"dataset": "{{clean}}", "label": "nope"}"""))).ErrorAsync(HttpStatusCode.BadRequest, "invalid_label");
        await (await client.PostAsync($"api/v1/models/{model}/versions/1/evaluations", Api.Json("""{}"""))).ErrorAsync(HttpStatusCode.BadRequest, "invalid_dataset");

        // The default tenant's private dataset does not exist for this tenant.
        var others = await TrainingApiTests.DatasetAsync(server.Client, Clusters(12), "others.csv");
        await (await client.PostAsync($"api/v1/models/{model}/versions/1/evaluations", Api.Json($$"""{"dataset": "{{others}}"}"""))).ErrorAsync(HttpStatusCode.NotFound,
            "dataset_not_found");

        // An ONNX model uploaded as it is has no MaaS training metadata to say which columns it takes.
        var uploaded = await client.CreateModelAsync();
        await (await client.PostAsync($"api/v1/models/{uploaded}/versions", MaasTestServer.Artifact(TestArtifacts.Onnx(), "model.onnx"))).JsonAsync(HttpStatusCode.Created);
        var refused = await (await client.PostAsync($"api/v1/models/{uploaded}/versions/1/evaluations",
            Api.Json($$"""{"dataset": "{{clean}}"}"""))).ErrorAsync(HttpStatusCode.BadRequest, "version_not_trained");
        Assert.Contains("trained by MaaS", (string?)refused["message"], StringComparison.Ordinal);

        // A key that reads models but not datasets may not score one.
        using var modelsOnly = await KeyClientAsync(server, tenant, "models:read");
        await (await modelsOnly.PostAsync($"api/v1/models/{model}/versions/1/evaluations", Api.Json($$"""{"dataset": "{{clean}}"}"""))).ErrorAsync(HttpStatusCode.Forbidden,
            "insufficient_scope");
    }

    [Fact]
    public async Task A_version_optimised_from_a_trained_one_is_scored_by_the_label_its_source_was_trained_with()
    {
        var server = await servers.GetAsync(Db.Sqlite);
        var (client, _) = await TenantClientAsync(server);
        using var owned = client;
        var model = await TrainAsync(client);

        // Version 2 is version 1 through ONNX Runtime's graph optimisations: same features, classes and inputs.
        using var optimise = await client.PostAsync($"api/v1/models/{model}/versions/1:optimize", Api.Json("""{"method": "onnx-optimize"}"""));
        var optimised = await client.WaitForJobAsync((string)(await optimise.JsonAsync(HttpStatusCode.Accepted))["id"]!, TimeSpan.FromMinutes(2));
        Assert.True((string?)optimised["status"] == "succeeded", optimised.ToJsonString());
        Assert.Equal(2, (int)optimised["result"]!["version"]!);

        // Its own metadata records no training: the label was asked for ("does not record the label column it was trained with").
        var clean = await TrainingApiTests.DatasetAsync(client, Clusters(30), "clean.csv");
        using var submitted = await client.PostAsync($"api/v1/models/{model}/versions/2/evaluations", Api.Json($$"""{"dataset": "{{clean}}"}"""));
        var job = await submitted.JsonAsync(HttpStatusCode.Accepted);
        Assert.Equal("cls", (string?)job["label"]);
        var ended = await client.WaitForJobAsync((string)job["id"]!, TimeSpan.FromMinutes(2));
        Assert.True((string?)ended["status"] == "succeeded", ended.ToJsonString());
        Assert.Equal((1.0, 30), ((double)ended["result"]!["accuracy"]!, (int)ended["result"]!["rows"]!));
    }

    [Fact]
    public async Task Three_batches_are_scored_with_one_onnx_session_which_is_closed_when_the_job_ends()
    {
        var server = await servers.GetAsync(Db.Sqlite);
        var (client, _) = await TenantClientAsync(server);
        using var owned = client;
        var handler = server.Services.GetServices<IJobHandler>().OfType<EvaluationJobHandler>().Single();
        var model = await TrainAsync(client);
        var rows = (2 * EvaluationJobHandler.DefaultBatchRows) + 76;
        var dataset = await TrainingApiTests.DatasetAsync(client, Clusters(rows), "three-batches.csv");

        var opened = handler.SessionsOpened;
        var job = await EvaluateAsync(client, model, $$"""{"dataset": "{{dataset}}"}""");
        Assert.Equal((rows, 1.0), ((int)job["result"]!["rows"]!, (double)job["result"]!["accuracy"]!));
        Assert.Equal((opened + 1, 0), (handler.SessionsOpened, handler.SessionsOpen));

        // Each batch reported how many rows were scored so far.
        var events = await (await client.GetAsync($"api/v1/jobs/{job["id"]}/events?limit=1000")).JsonAsync(HttpStatusCode.OK);
        var scored = events["events"]!.AsArray().Where(e => (string?)e!["type"] == "progress" && (string?)e["data"]!["stage"] == "scoring")
            .Select(e => (int)e!["data"]!["metrics"]!["rows_scored"]!).ToArray();
        Assert.Equal(EvaluationJobHandler.DefaultBatchRows, scored[0]);
        Assert.True(scored.SequenceEqual(scored.Order()) && scored[^1] <= rows, string.Join(", ", scored));
    }

    [Fact]
    public async Task A_text_column_for_a_number_feature_a_label_column_of_other_values_and_an_empty_label_are_400s_before_any_job()
    {
        var server = await servers.GetAsync(Db.Sqlite);
        var (client, _) = await TenantClientAsync(server);
        using var owned = client;
        var model = await TrainAsync(client);
        async Task<JsonNode> Refused(string csv, string body, string code)
        {
            var dataset = await TrainingApiTests.DatasetAsync(client, Encoding.UTF8.GetBytes(csv), "bad.csv");
            using var response = await client.PostAsync($"api/v1/models/{model}/versions/1/evaluations", Api.Json(body.Replace("DATASET", dataset, StringComparison.Ordinal)));
            return await response.ErrorAsync(HttpStatusCode.BadRequest, code);
        }

        // x2 is a number to the version; here it holds words.
        var text = await Refused("x1,x2,cls\n0,low,a\n10,low,b\n0,high,c\n", """{"dataset": "DATASET"}""", "invalid_column");
        Assert.Equal(("x2", "number", "string"), ((string?)text["column"], (string?)text["expected"], (string?)text["found"]));

        // x1 as the label: its values are numbers, none of them a class the version knows (a, b, c).
        var other = await Refused(Encoding.UTF8.GetString(Clusters(12)), """{"dataset": "DATASET", "label": "x1"}""", "invalid_label");
        Assert.Contains("a, b, c", (string?)other["message"], StringComparison.Ordinal);

        // A label the dataset lacks: its columns are named, and when only the first 20 are, the message says how many more.
        var wide = string.Join(",", Enumerable.Range(0, 25).Select(i => $"c{i}"));
        var missing = await Refused($"{wide}\n{string.Join(",", Enumerable.Range(0, 25))}\n", """{"dataset": "DATASET", "label": "nope"}""", "invalid_label");
        Assert.EndsWith("(c0, c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11, c12, c13, c14, c15, c16, c17, c18, c19 and 5 more)", (string?)missing["message"],
            StringComparison.Ordinal);

        var empty = await Refused("x1,x2,cls,note\n0,0,,n\n10,0,,n\n", """{"dataset": "DATASET"}""", "dataset_too_small");
        Assert.Equal("cls", (string?)empty["column"]);

        var jobs = await (await client.GetAsync("api/v1/jobs?kind=evaluation")).JsonAsync(HttpStatusCode.OK);
        Assert.Empty(jobs["jobs"]!.AsArray());

        // Known classes further down, but the rows a limit picks have none: the job fails saying so, not "accuracy 0".
        var unknownFirst = await TrainingApiTests.DatasetAsync(client, Encoding.UTF8.GetBytes("x1,x2,cls\n0,0,zz\n10,0,zz\n0,10,a\n"), "unknown-first.csv");
        using var submitted = await client.PostAsync($"api/v1/models/{model}/versions/1/evaluations", Api.Json($$"""{"dataset": "{{unknownFirst}}", "limit": 2}"""));
        var failed = await client.WaitForJobAsync((string)(await submitted.JsonAsync(HttpStatusCode.Accepted))["id"]!);
        Assert.True((string?)failed["status"] == "failed", failed.ToJsonString());
        Assert.Equal("invalid_label", (string?)failed["error"]!["code"]);
        Assert.Contains("zz", (string?)failed["error"]!["message"], StringComparison.Ordinal);
    }

    [Fact]
    public async Task Numbers_beyond_the_versions_floats_or_an_answer_that_overflows_fail_the_job_naming_the_row_not_as_an_internal_error()
    {
        var server = await servers.GetAsync(Db.Sqlite);
        var (client, _) = await TenantClientAsync(server);
        using var owned = client;
        var line = "x,y\n" + string.Concat(Enumerable.Range(0, 40).Select(i => string.Create(CultureInfo.InvariantCulture, $"{i},{(2 * i) + 1}\n")));
        var dataset = await TrainingApiTests.DatasetAsync(client, Encoding.UTF8.GetBytes(line), "line.csv");
        var model = Names.Unique("line");
        var trained = await TrainingApiTests.TrainAsync(client, $$"""{"model": "{{model}}", "dataset": "{{dataset}}", "task": "regression", "label": "y", "trainer": "sdca"}""");
        Assert.True((string?)trained["status"] == "succeeded", trained.ToJsonString());

        async Task<JsonNode> Failed(string csv)
        {
            var other = await TrainingApiTests.DatasetAsync(client, Encoding.UTF8.GetBytes(csv), "big.csv");
            using var submitted = await client.PostAsync($"api/v1/models/{model}/versions/1/evaluations", Api.Json($$"""{"dataset": "{{other}}"}"""));
            var ended = await client.WaitForJobAsync((string)(await submitted.JsonAsync(HttpStatusCode.Accepted))["id"]!);
            Assert.True((string?)ended["status"] == "failed", ended.ToJsonString());
            return ended["error"]!;
        }

        // 1e39 is infinity as a 32-bit float; 3e38 is not, but the version's answer (about 2x + 1) is.
        var feature = await Failed("x,y\n1,3\n1e39,5\n");
        Assert.Equal(("invalid_dataset", "row 1, column 'x': 1E+39 is beyond the version's 32-bit floats (±3.4E+38)"), ((string?)feature["code"], (string?)feature["message"]));
        var answer = await Failed("x,y\n1,3\n2,5\n3e38,7\n");
        Assert.Equal("invalid_dataset", (string?)answer["code"]);
        Assert.StartsWith("row 2: the version's answer is not a finite number", (string?)answer["message"], StringComparison.Ordinal);
        var label = await Failed("x,y\n1,3\n2,1e300\n");
        Assert.Equal(("invalid_label", "'y' holds 1E+300 in row 1, beyond the version's 32-bit floats (±3.4E+38)"), ((string?)label["code"], (string?)label["message"]));
    }
}
