using System.Diagnostics;
using System.Net;
using System.Text.Json;
using Google.Protobuf;
using Maas.Core.Formats.Onnx;
using Maas.Core.TensorServing;
using Maas.Server.TensorInference.Grpc.Protocol;
using Maas.Server.Tests.Support;
using Microsoft.Extensions.DependencyInjection;
using static Maas.Testing.Conditions;

namespace Maas.Server.Tests.TensorInference;

/// <summary>
/// Scheduling through the real server: concurrent requests are served in batches (the statistics extension says so),
/// a full queue answers 429 / RESOURCE_EXHAUSTED at once, timeouts and disconnects leave the queue. A batch that must
/// still run while the test goes on is held at a gate the test opens (<see cref="GatedRuns"/>), not made big enough to
/// outlast the test's next steps on whatever host runs it.
/// </summary>
public class SchedulingTests : IAsyncLifetime
{
    private const int SlowWidth = 512;

    // The rows of a batch the test holds at the gate (the gate, not the size, keeps it running).
    private const int HeldRows = 64;

    private MaasTestServer _server = null!;
    private GatedRuns _runs = null!;

    private HttpClient Client => _server.Client;

    /// <summary>The server's settings: Kestrel's sockets here, a thread per connection in the derived class.</summary>
    protected virtual IReadOnlyDictionary<string, string?> Settings => new Dictionary<string, string?>();

    public async Task InitializeAsync()
    {
        _server = await InferenceHost.StartAsync(Settings, GatedRuns.Install(runs => _runs = runs));
        _ = _server.Services.GetRequiredService<IModelBackendFactory>();
        await _server.RegisterAsync("mlp", TestModels.Mlp(16, [32], 4, seed: 11), new { max_batch_size = 32, max_queue_delay_ms = 30, threads = 1 });

        // One instance, one waiting request at most: a batch held at its gate keeps it busy on purpose. No queue time
        // budget: on a loaded host the request waiting behind the held batch could otherwise be dropped past 10 s.
        await _server.RegisterAsync("slow", TestModels.Mlp(SlowWidth, [64], SlowWidth, seed: 3),
            new { max_batch_size = 0, queue_limit = 1, instance_count = 1, threads = 1, queue_time_budget_ms = 0 });
    }

    public async Task DisposeAsync()
    {
        _runs?.OpenAll();
        await _server.DisposeAsync();
    }

    private static HttpContent Rows(int rows, int width, float value = 0.5f)
    {
        var raw = InferenceHost.Floats(Enumerable.Repeat(value, rows * width));
        var json = $$$"""{"inputs":[{"name":"input","shape":[{{{rows}}},{{{width}}}],"datatype":"FP32","parameters":{"binary_data_size":{{{raw.Length}}}}}]""" +
            $$$""","parameters":{"binary_data_output":true}}""";
        return InferenceHost.BinaryBody(json, raw);
    }

    private async Task<ModelScheduler> SchedulerOf(string model) =>
        await _server.Services.GetRequiredService<ModelManager>().AcquireAsync(model, null, CancellationToken.None);

    [Fact]
    public async Task Concurrent_requests_are_served_in_batches_with_correct_results()
    {
        var layers = DenseLayer.RandomStack(16, [32], 4, seed: 11);
        var random = new Random(1);
        var inputs = Enumerable.Range(0, 16).Select(_ => Enumerable.Range(0, 16).Select(_ => random.NextSingle()).ToArray()).ToArray();
        (await Client.PostAsync("/v2/models/mlp/infer", Rows(1, 16))).EnsureSuccessStatusCode(); // load it

        var calls = inputs.Select(async x =>
        {
            var body = InferenceHost.InferJson("input", "FP32", [1, 16], new System.Text.Json.Nodes.JsonArray(x.Select(v => (System.Text.Json.Nodes.JsonNode)v).ToArray()));
            var (status, response, _) = await Client.PostJsonAsync("/v2/models/mlp/infer", body);
            Assert.Equal(HttpStatusCode.OK, status);
            return response.GetProperty("outputs")[0].GetProperty("data").EnumerateArray().Select(e => e.GetSingle()).ToArray();
        }).ToArray();
        var results = await Task.WhenAll(calls);
        for (var i = 0; i < inputs.Length; i++)
        {
            var expected = layers[1].Apply(layers[0].Apply(inputs[i], 1, relu: true), 1, relu: false);
            for (var k = 0; k < expected.Length; k++)
            {
                Assert.Equal(expected[k], results[i][k], 4);
            }
        }

        var (_, stats) = await Client.GetJsonAsync("/v2/models/mlp/stats");
        var s = stats.GetProperty("model_stats")[0];
        Assert.Equal(17, s.GetProperty("inference_count").GetInt64());
        var executions = s.GetProperty("execution_count").GetInt64();
        Assert.True(executions < 17, $"17 requests ran in {executions} executions: no batching");
        var sizes = s.GetProperty("batch_stats").EnumerateArray().Select(b => b.GetProperty("batch_size").GetInt64()).ToArray();
        Assert.Contains(sizes, size => size > 1);
    }

    [Fact]
    public async Task A_full_queue_is_refused_at_once_with_429_and_resource_exhausted_and_then_serves_again()
    {
        (await Client.PostAsync("/v2/models/slow/infer", Rows(1, SlowWidth))).EnsureSuccessStatusCode();
        var scheduler = await SchedulerOf("slow");
        // Held at its gate: the refusals below must come while it still runs (a big batch once ended before the next
        // request arrived in CI).
        var gate = _runs.Gate("slow");
        gate.Close();
        var running = Client.PostAsync("/v2/models/slow/infer", Rows(HeldRows, SlowWidth));
        await WaitUntilAsync(() => gate.Held == 1, "the batch is held in its run");
        var queued = Client.PostAsync("/v2/models/slow/infer", Rows(1, SlowWidth));
        await WaitUntilAsync(() => scheduler.QueueLength == 1);

        var refused = await Client.PostAsync("/v2/models/slow/infer", Rows(1, SlowWidth));
        Assert.Equal(HttpStatusCode.TooManyRequests, refused.StatusCode);
        Assert.Equal("1", refused.Headers.GetValues("Retry-After").Single());
        var error = JsonDocument.Parse(await refused.Content.ReadAsStringAsync()).RootElement.GetProperty("error").GetString();
        Assert.Contains("queue of model 'slow' version 1 is full (1 requests waiting, the configured limit)", error);

        using var grpc = new GrpcTestClient(_server.GrpcAddress());
        var grpcRefused = await grpc.CallAsync("ModelInfer", SlowRequest(1), ModelInferResponse.Parser);
        Assert.Equal(8, grpcRefused.Status); // RESOURCE_EXHAUSTED
        Assert.Contains("is full", grpcRefused.Message);
        Assert.Equal("1", grpcRefused.Trailer("retry-after"));
        Assert.False(running.IsCompleted, "the refusals must come while the queue is full, not after a wait");

        gate.Open();
        Assert.Equal(HttpStatusCode.OK, (await running).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await queued).StatusCode);
        var again = await grpc.CallAsync("ModelInfer", SlowRequest(1), ModelInferResponse.Parser);
        Assert.Equal(0, again.Status);
    }

    private static ModelInferRequest SlowRequest(int rows)
    {
        var request = new ModelInferRequest { ModelName = "slow" };
        var input = new ModelInferRequest.Types.InferInputTensor { Name = "input", Datatype = "FP32" };
        input.Shape.Add([rows, SlowWidth]);
        request.Inputs.Add(input);
        request.RawInputContents.Add(ByteString.CopyFrom(new byte[rows * SlowWidth * 4]));
        return request;
    }

    [Fact]
    public async Task A_request_past_its_timeout_gets_504_and_a_disconnected_caller_leaves_the_queue()
    {
        (await Client.PostAsync("/v2/models/slow/infer", Rows(1, SlowWidth))).EnsureSuccessStatusCode();
        var scheduler = await SchedulerOf("slow");
        var before = await InferenceCount();

        // Held at its gate until the server has noticed the departed caller, so the instance is busy all along.
        var gate = _runs.Gate("slow");
        gate.Close();
        var running = Client.PostAsync("/v2/models/slow/infer", Rows(HeldRows, SlowWidth));
        await WaitUntilAsync(() => gate.Held == 1, "the batch is held in its run");
        var raw = InferenceHost.Floats(new float[3 * SlowWidth]);
        var json = $$$"""{"inputs":[{"name":"input","shape":[3,{{{SlowWidth}}}],"datatype":"FP32","parameters":{"binary_data_size":{{{raw.Length}}}}}]""" +
            $$$""","parameters":{"timeout":50000}}""";
        var timedOut = await Client.PostAsync("/v2/models/slow/infer", InferenceHost.BinaryBody(json, raw));
        Assert.Equal(HttpStatusCode.GatewayTimeout, timedOut.StatusCode);
        Assert.Contains("timeout of 50 ms", await timedOut.Content.ReadAsStringAsync());
        Assert.Equal(0, scheduler.QueueLength);

        using var leaving = new CancellationTokenSource();
        var gone = Client.PostAsync("/v2/models/slow/infer", Rows(5, SlowWidth), leaving.Token);
        await WaitUntilAsync(() => scheduler.QueueLength == 1);
        await leaving.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => gone);
        await WaitUntilAsync(() => scheduler.QueueLength == 0);
        Assert.False(running.IsCompleted, "the departed caller must leave the queue while the batch ahead of it runs");
        gate.Open();
        Assert.Equal(HttpStatusCode.OK, (await running).StatusCode);
        Assert.Equal(before + HeldRows, await InferenceCount()); // neither the timed-out nor the departed rows ran
    }

    // grpc-timeout was only a deadline on the call: the scheduler still used the server's timeout, so a call asking
    // for 300 s got DEADLINE_EXCEEDED after the model's 300 ms, unlike REST's "timeout" parameter.
    [Fact]
    public async Task Grpc_timeout_sets_the_calls_inference_timeout_past_the_servers()
    {
        await _server.RegisterAsync("brief", TestModels.Mlp(SlowWidth, [64], SlowWidth, seed: 3),
            new { max_batch_size = 0, instance_count = 1, threads = 1, timeout_ms = 300, queue_time_budget_ms = 0 });
        (await Client.PostAsync("/v2/models/brief/infer", Rows(1, SlowWidth))).EnsureSuccessStatusCode();
        var scheduler = await SchedulerOf("brief");

        // Held at its gate, with its own long timeout (REST's parameter, microseconds): the calls below queue behind it.
        var gate = _runs.Gate("brief");
        gate.Close();
        var raw = InferenceHost.Floats(new float[HeldRows * SlowWidth]);
        var json = $$$"""{"inputs":[{"name":"input","shape":[{{{HeldRows}}},{{{SlowWidth}}}],"datatype":"FP32","parameters":{"binary_data_size":{{{raw.Length}}}}}]""" +
            $$$""","parameters":{"timeout":300000000}}""";
        var running = Client.PostAsync("/v2/models/brief/infer", InferenceHost.BinaryBody(json, raw));
        await WaitUntilAsync(() => gate.Held == 1, "the batch is held in its run");

        using var grpc = new GrpcTestClient(_server.GrpcAddress());
        var request = SlowRequest(1);
        request.ModelName = "brief";
        var untimed = await grpc.CallAsync("ModelInfer", request, ModelInferResponse.Parser);
        Assert.Equal(4, untimed.Status); // DEADLINE_EXCEEDED after the model's 300 ms
        Assert.Contains("timeout of 300 ms", untimed.Message);
        Assert.False(running.IsCompleted, "the long request must still run for the next call to queue behind it");

        // The timed call waits behind the held batch well past the model's 300 ms, and is served once it ends.
        var timing = grpc.CallAsync("ModelInfer", request, ModelInferResponse.Parser, new Dictionary<string, string> { ["grpc-timeout"] = "300S" });
        await WaitUntilAsync(() => scheduler.QueueLength == 1, "the timed call waits behind the held batch");
        var waiting = Stopwatch.StartNew();
        await WaitUntilAsync(() => waiting.Elapsed >= TimeSpan.FromSeconds(1.5) || timing.IsCompleted, "the timed call has waited five times the model's timeout");
        gate.Open();
        var timed = await timing;
        Assert.True(timed.Status == 0, $"status {timed.Status} {timed.Message}");
        Assert.Equal(SlowWidth * 4, timed.Single.RawOutputContents[0].Length);
        Assert.Equal(HttpStatusCode.OK, (await running).StatusCode);
    }

    [Fact]
    public async Task A_changed_serving_configuration_applies_to_the_loaded_version_without_a_restart()
    {
        await _server.RegisterAsync("reconfigured", TestModels.Mlp(16, [8], 2), new { max_batch_size = 4, queue_limit = 10 });
        (await Client.PostAsync("/v2/models/reconfigured/infer", Rows(1, 16))).EnsureSuccessStatusCode();
        var before = await SchedulerOf("reconfigured");
        Assert.Equal((4, 10), (before.Options.MaxBatchSize, before.Options.QueueLimit));

        var put = await Client.PutAsync("/api/v1/models/reconfigured/config",
            new StringContent("""{"max_batch_size": 8, "queue_limit": 3}""", System.Text.Encoding.UTF8, "application/json"));
        put.EnsureSuccessStatusCode();
        ModelScheduler? after = null;
        await WaitUntilAsync(() => (after = SchedulerOf("reconfigured").Result) is { Options.QueueLimit: 3 });
        Assert.Equal(8, after!.Options.MaxBatchSize);
        var response = await Client.PostAsync("/v2/models/reconfigured/infer", Rows(2, 16));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var (_, stats) = await Client.GetJsonAsync("/v2/models/reconfigured/stats");
        Assert.Equal(3, stats.GetProperty("model_stats")[0].GetProperty("inference_count").GetInt64()); // statistics carried over
    }

    private async Task<long> InferenceCount()
    {
        var (_, stats) = await Client.GetJsonAsync("/v2/models/slow/stats");
        return stats.GetProperty("model_stats")[0].GetProperty("inference_count").GetInt64();
    }
}

/// <summary>
/// The same scheduling behaviour with a thread per connection (<c>Maas:Inference:HttpTransport=threads</c>); among it, a
/// caller that disconnects while queued leaves the queue (the transport reports the departed client). The setting is the
/// main listener's: the inherited gRPC calls (grpc-timeout, RESOURCE_EXHAUSTED) still reach the gRPC listener, a Kestrel
/// host of its own on sockets, so here they run beside REST requests on connection threads, not on one.
/// </summary>
public sealed class SchedulingOnConnectionThreadsTests : SchedulingTests
{
    protected override IReadOnlyDictionary<string, string?> Settings =>
        new Dictionary<string, string?> { ["Maas:Inference:HttpTransport"] = "threads" };
}
