using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Maas.Server.Tests.Support;
using Maas.Testing;

namespace Maas.Server.Tests.Training;

/// <summary>
/// Training specs and data a fit cannot use: refused at submission with a 400 naming the problem where the dataset's
/// schema and statistics already tell, else a failed job saying why; never a 500, an unexpected error or a version.
/// </summary>
public sealed class TrainingInputTests(TrainingServer servers) : IClassFixture<TrainingServer>
{
    private static async Task<HttpClient> TenantAsync(MaasTestServer server) =>
        (await server.TenantClientAsync("datasets:write", "datasets:read", "training:write", "training:read", "models:read", "models:write")).Client;

    private static Task<string> CsvAsync(HttpClient client, string csv) => TrainingApiTests.DatasetAsync(client, Encoding.UTF8.GetBytes(csv), "data.csv");

    private static string Rows(int count, Func<int, string> row) => string.Concat(Enumerable.Range(0, count).Select(i => row(i) + "\n"));

    [Fact]
    public async Task Specs_the_dataset_cannot_train_are_refused_at_submission_naming_the_problem_and_nothing_is_queued()
    {
        var server = await servers.GetAsync(Db.Sqlite);
        using var client = await TenantAsync(server);
        var line = await CsvAsync(client, "x,y\n" + Rows(40, i => $"{i},{(2 * i) + 1}"));
        var images = (await ImageDatasets.UploadAsync(client, 20, 8, seed: 1, "images.zip")).Name;
        // ML.NET computes in 32-bit floats: 1e300 becomes infinity (a label dropped, a feature that breaks the fit).
        var huge = await CsvAsync(client, "x,big,y\n" + Rows(40, i => $"{i},{(i + 1) * 1e300},{(i + 1) * 1e300}"));
        var empty = await CsvAsync(client, "x,f,y\n" + Rows(40, i => $"{i},,{i % 2}"));
        var pair = await CsvAsync(client, "x,y\n1,a\n2,b\n");
        var wordy = await CsvAsync(client, "x,y\n" + Rows(40, i => $"{i},{(i % 2 == 0 ? "a" : new string('z', 1100))}"));

        async Task<string> Refused(string spec, string code)
        {
            using var response = await client.PostAsync("api/v1/training/jobs", Api.Json(spec));
            var error = await response.ErrorAsync(HttpStatusCode.BadRequest, code);
            return (string)error["message"]!;
        }

        // A null where a name or a layer goes used to be a 500.
        Assert.Contains("null or empty name",
            await Refused($$"""{"model": "m", "dataset": "{{line}}", "task": "regression", "label": "y", "features": [null]}""", "invalid_features"), StringComparison.Ordinal);
        Assert.Contains("null or empty name",
            await Refused($$"""{"model": "m", "dataset": "{{line}}", "task": "regression", "label": "y", "features": ["x", ""]}""", "invalid_features"), StringComparison.Ordinal);
        await Refused($$"""{"model": "m", "dataset": "{{images}}", "task": "image-classification", "label": "label", "features": [null]}""", "invalid_features");
        Assert.Contains("layer 1 is null", await Refused($$"""{"model": "m", "dataset": "{{images}}", "task": "image-classification", "label": "label", "network": [{"type":""" +
            $$""" "flatten"}, null, {"type": "dense"}]}""", "invalid_network"), StringComparison.Ordinal);

        // The image column as the label is named as what it is, not as "not a column".
        Assert.Contains("'image' is an image column",
            await Refused($$"""{"model": "m", "dataset": "{{images}}", "task": "image-classification", "label": "image"}""", "invalid_label"), StringComparison.Ordinal);

        // Numbers a 32-bit float cannot hold (these used to fail the job with "internal_error").
        Assert.Contains("beyond the range of the 32-bit floats",
            await Refused($$"""{"model": "m", "dataset": "{{huge}}", "task": "regression", "label": "y", "features": ["x"]}""", "invalid_label"), StringComparison.Ordinal);
        Assert.Contains("feature 'big'", await Refused($$"""{"model": "m", "dataset": "{{huge}}", "task": "regression", "label": "x"}""", "invalid_features"),
            StringComparison.Ordinal);

        // Features without a single value: nothing to learn from (the fit failed with a non-finite bias).
        Assert.Contains("no feature has a value",
            await Refused($$"""{"model": "m", "dataset": "{{empty}}", "task": "regression", "label": "y", "features": ["f"]}""", "invalid_features"), StringComparison.Ordinal);

        // A label of few but long values is not a class label (its statistics carry no class balance).
        Assert.Contains("values over 1024 characters",
            await Refused($$"""{"model": "m", "dataset": "{{wordy}}", "task": "binary-classification", "label": "y"}""", "invalid_label"), StringComparison.Ordinal);

        // A split that leaves the job no test rows, or a search no validation rows, is known from the label's counts.
        var small = await Refused($$"""{"model": "m", "dataset": "{{pair}}", "task": "binary-classification", "label": "y"}""", "dataset_too_small");
        Assert.Contains("leaves 2 training, 0 validation and 0 test rows", small, StringComparison.Ordinal);
        Assert.Contains("split", await Refused(
            $$"""{"model": "m", "dataset": "{{line}}", "task": "regression", "label": "y", "trainer": "sdca", "split": {"validation": 0.01}, "search": {"space":""" +
            $$""" {"iterations": [1, 2] } } }""",
            "dataset_too_small"), StringComparison.Ordinal);

        var jobs = await (await client.GetAsync("api/v1/training/jobs")).JsonAsync(HttpStatusCode.OK);
        Assert.Empty(jobs["jobs"]!.AsArray());
    }

    [Fact]
    public async Task A_fit_ml_net_refuses_fails_the_job_with_its_reason_and_registers_nothing()
    {
        var server = await servers.GetAsync(Db.Sqlite);
        using var client = await TenantAsync(server);

        // Labels at the edge of a float's range: SDCA's weights overflow (it used to end as "internal_error").
        var dataset = await CsvAsync(client, "x,y\n" + Rows(40, i => $"{i},{(i % 2 == 0 ? "3e38" : "-3e38")}"));
        var model = Names.Unique("edge");
        var job = await TrainingApiTests.TrainAsync(client, $$"""{"model": "{{model}}", "dataset": "{{dataset}}", "task": "regression", "label": "y", "trainer": "sdca"}""");
        Assert.True((string?)job["status"] == "failed", job.ToJsonString());
        Assert.Equal("training_failed", (string?)job["error"]!["code"]);
        Assert.Contains("ML.NET could not fit sdca (regression)", (string?)job["error"]!["message"], StringComparison.Ordinal);
        Assert.Contains("non-finite", (string?)job["error"]!["message"], StringComparison.Ordinal);
        var versions = await (await client.GetAsync($"api/v1/models/{model}/versions")).JsonAsync(HttpStatusCode.OK);
        Assert.Empty(versions["versions"]!.AsArray());
    }
}
