using System.Net;
using System.Text.Json.Nodes;
using Maas.Core.Formats.Onnx;
using Maas.Server.Tests.Support;
using Maas.Server.Tests.Tenancy;
using Maas.Testing;

namespace Maas.Server.Tests.Optimization;

/// <summary>An optimisation job from submission to its end as its events tell it: stages that move, the measured numbers, errors that say whose fault.</summary>
public sealed class OptimizationJobLifecycleTests(OptimizationHostFixture fixture) : IClassFixture<OptimizationHostFixture>
{
    private TenancyHost Host => fixture.Host;

    private static float[] Values(int n, int seed)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, n).Select(_ => (float)((random.NextDouble() * 2) - 1)).ToArray();
    }

    private async Task<JsonNode> OptimizeAsync(string model, string body)
    {
        using var response = await Host.Admin.PostAsync($"api/v1/models/{model}/versions/1:optimize", Api.Json(body));
        return await Host.Admin.WaitForJobAsync((string)(await response.JsonAsync(HttpStatusCode.Accepted))["id"]!, TimeSpan.FromMinutes(3));
    }

    private async Task<JsonArray> EventsAsync(JsonNode job) =>
        (await (await Host.Admin.GetAsync($"api/v1/jobs/{job["id"]}/events?limit=1000")).JsonAsync(HttpStatusCode.OK))["events"]!.AsArray();

    private static (string Stage, double Percent)[] Stages(JsonArray events) =>
        events.Where(e => (string?)e!["type"] == "progress").Select(e => ((string)e!["data"]!["stage"]!, (double)e["data"]!["percent"]!)).ToArray();

    [Fact]
    public async Task An_onnx_job_moves_through_its_stages_and_its_metrics_event_holds_the_report_as_json()
    {
        var model = await Host.Admin.CreateModelAsync();
        await Host.Admin.UploadAsync(model, OnnxModelWriter.Mlp(32, [64], 8, seed: 4).ToBytes(), "model.onnx");

        var job = await OptimizeAsync(model, """{"method": "onnx-int8-dynamic", "gate": {"max_size_ratio": 0.9}}""");

        Assert.True((string?)job["status"] == "succeeded", job.ToJsonString());
        var events = await EventsAsync(job);

        // Measuring is two stages, outputs then timing, so a long measurement is not one percentage for its whole length.
        var stages = Stages(events);
        Assert.Equal(["loading", "rewriting", "measuring", "timing", "registering"], stages.Select(s => s.Stage));
        Assert.True(stages.Zip(stages.Skip(1)).All(p => p.First.Percent < p.Second.Percent), string.Join(", ", stages));

        // The report is an object (it was a string of JSON, which followers printed escaped on one line), with the numbers by name.
        var metrics = events.Single(e => (string?)e!["type"] == "metrics")!["data"]!;
        Assert.Equal("ready", (string?)metrics["status"]);
        Assert.IsType<JsonObject>(metrics["report"]);
        Assert.True((bool)metrics["report"]!["gate"]!["passed"]!);
        Assert.Equal((double)job["result"]!["report"]!["size_ratio"]!, (double)metrics["metrics"]!["size_ratio"]!);
        Assert.Equal(2, (int)metrics["report"]!["rewrite"]!["matmuls_quantized"]!);
    }

    [Fact]
    public async Task A_gguf_job_reports_measuring_the_source_and_the_quantised_model_as_two_stages()
    {
        var model = await Host.Admin.CreateModelAsync();
        await GeneratedLlamas.UploadAsync(Host.Admin, model, GeneratedLlamas.Tiny);

        var job = await OptimizeAsync(model, """{"method": "gguf-quantize", "options": {"type": "q8_0"}, "gate": {"max_perplexity_increase": 0.5}}""");

        Assert.True((string?)job["status"] == "succeeded", job.ToJsonString());
        var stages = Stages(await EventsAsync(job));
        Assert.Equal(["loading", "rewriting", "measuring source", "measuring", "registering"], stages.Select(s => s.Stage));
        Assert.True(stages.Zip(stages.Skip(1)).All(p => p.First.Percent < p.Second.Percent), string.Join(", ", stages));
    }

    [Fact]
    public async Task A_source_that_does_not_run_on_the_sample_inputs_fails_the_job_as_cannot_measure_naming_the_source()
    {
        // The feature dimension is open, so samples have one feature; the weight takes 32: the source itself cannot run.
        var model = await Host.Admin.CreateModelAsync();
        await Host.Admin.UploadAsync(model, new OnnxModelWriter().Input("input", OnnxElementType.Float, "batch", "features").Output("output", OnnxElementType.Float, "batch", 48)
            .Initializer("w", Values(32 * 48, 9), [32, 48]).Node("MatMul", ["input", "w"], ["output"]).ToBytes(), "model.onnx");

        var job = await OptimizeAsync(model, """{"method": "onnx-fp16"}""");

        Assert.Equal("failed", (string?)job["status"]);
        Assert.Equal("cannot_measure", (string?)job["error"]!["code"]); // was invalid_rewrite: "cannot run the rewritten model"
        var message = (string?)job["error"]!["message"];
        Assert.Contains("the source model does not run on the sample inputs ('input' [1, 1]; open dimensions are sampled as 1)", message, StringComparison.Ordinal);
        Assert.Single((await (await Host.Admin.GetAsync($"api/v1/models/{model}/versions")).JsonAsync(HttpStatusCode.OK))["versions"]!.AsArray());
    }

    [Fact]
    public async Task A_model_whose_open_batch_dimension_is_fixed_inside_is_measured_at_batch_1_with_a_note()
    {
        // [batch, 32] reshaped to [1, 32]: any batch but 1 fails inside the model, which says its batch is open.
        var model = await Host.Admin.CreateModelAsync();
        await Host.Admin.UploadAsync(model, new OnnxModelWriter().Input("input", OnnxElementType.Float, "batch", 32).Output("output", OnnxElementType.Float, "batch", 48)
            .Initializer("shape", new long[] { 1, 32 }, [2]).Initializer("w", Values(32 * 48, 10), [32, 48])
            .Node("Reshape", ["input", "shape"], ["flat"]).Node("MatMul", ["flat", "w"], ["output"]).ToBytes(), "model.onnx");

        var job = await OptimizeAsync(model, """{"method": "onnx-int8-dynamic", "options": {"throughput_batch": 8}}""");

        Assert.True((string?)job["status"] == "succeeded", job.ToJsonString()); // it failed as if the rewrite could not run
        var report = job["result"]!["report"]!;
        Assert.Equal(1, (int)report["throughput_batch"]!);
        Assert.Contains("batch 8 asked for; the source model does not run at that batch", (string?)report["throughput_note"], StringComparison.Ordinal);
    }
}
