using Maas.Core.Formats.Onnx;
using Maas.Core.TensorServing;
using Maas.Runtimes.Onnx.Serving;

namespace Maas.Server.Tests.TensorInference;

/// <summary>The ONNX backend under the scheduler, in process: every datatype, and batched results equal unbatched ones.</summary>
public sealed class OnnxBackendTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("maas-onnx-backend-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private OnnxBackend Load(string file, byte[] model, int instances = 1) =>
        OnnxBackend.Load(new ModelLoadSpec("m", 1, TestModels.Save(_dir, file, model), instances, 1));

    [LinuxFact]
    public void Onnx_runtime_threads_carry_the_models_name()
    {
        // Two intra-op threads: ONNX Runtime starts one thread of its own (the caller of Run is the other).
        var model = TestModels.Save(_dir, "named.onnx", TestModels.Mlp(8, [16], 4));
        using var backend = OnnxBackend.Load(new ModelLoadSpec("named-threads", 1, model, 1, 2));
        Assert.Equal("onnx:named-thre", OnnxBackend.ThreadName("named-threads"));
        Assert.Equal("onnx:m", OnnxBackend.ThreadName("m"));
        var names = Directory.EnumerateDirectories("/proc/self/task").Select(task =>
        {
            try
            {
                return File.ReadAllText(Path.Combine(task, "comm")).TrimEnd('\n');
            }
            catch (IOException)
            {
                return ""; // a thread that ended meanwhile
            }
        }).ToList();
        Assert.Contains("onnx:named-thre", names);
    }

    [Fact]
    public void Every_datatype_round_trips_through_an_identity_model()
    {
        foreach (var type in TestModels.IdentityTypes)
        {
            using var backend = Load($"identity-{type}.onnx", TestModels.Identity(type));
            Assert.Equal(type, backend.Inputs.Single().DataType);
            Assert.Equal([-1L, 3L], backend.Inputs.Single().Shape);
            var raw = TestModels.RawValues(type);
            using var input = Tensor.Wrap("input", type, [2, 3], raw.ToArray());
            var outputs = backend.Run(0, [input], ["output"], new ComputeTimings());
            using var output = Assert.Single(outputs);
            Assert.Equal([2L, 3L], output.Shape);
            Assert.Equal(type, output.DataType);
            Assert.Equal(raw, output.Data.ToArray());
        }
    }

    [Fact]
    public async Task Batched_mlp_results_equal_each_request_run_alone()
    {
        var layers = DenseLayer.RandomStack(8, [16], 4, seed: 3);
        var model = OnnxModelWriter.Mlp(layers).ToBytes();
        var backend = Load("mlp.onnx", model);
        var stats = new InferenceStatistics();
        await using var scheduler = new ModelScheduler("mlp", "1", backend,
            new SchedulerOptions { MaxBatchSize = 64, MaxQueueDelay = TimeSpan.FromMilliseconds(50), PreferredBatchSizes = [12] }, stats);
        Assert.True(scheduler.Batching);
        var random = new Random(5);
        var inputs = Enumerable.Range(0, 12).Select(_ => Enumerable.Range(0, 8).Select(_ => random.NextSingle()).ToArray()).ToArray();
        var tasks = inputs.Select(x => scheduler.InferAsync(new InferenceRequest
        {
            Inputs = [Tensor.FromValues("input", TensorDataType.FP32, [1, 8], x.AsSpan())],
        })).ToArray();
        var responses = await Task.WhenAll(tasks);
        for (var i = 0; i < inputs.Length; i++)
        {
            var hidden = layers[0].Apply(inputs[i], 1, relu: true);
            var expected = layers[1].Apply(hidden, 1, relu: false);
            var actual = responses[i].Outputs.Single().AsSpan<float>().ToArray();
            for (var k = 0; k < expected.Length; k++)
            {
                Assert.Equal(expected[k], actual[k], 4);
            }

            responses[i].Dispose();
        }

        var snapshot = stats.Snapshot("mlp", "1");
        Assert.Equal(12, snapshot.InferenceCount);
        Assert.True(snapshot.ExecutionCount < 12, $"expected batching, got {snapshot.ExecutionCount} executions");
    }

    [Fact]
    public void Gpu_providers_this_cpu_build_lacks_are_left_out_and_the_model_runs_on_cpu()
    {
        var path = TestModels.Save(_dir, "gpu.onnx", TestModels.Identity(TensorDataType.FP32));
        using var backend = OnnxBackend.Load(new ModelLoadSpec("m", 1, path, 1, 1) { Providers = ["tensorrt", "cuda", "cpu"] });

        Assert.Equal(["cpu"], backend.ExecutionProviders);
        using var input = Tensor.FromValues("input", TensorDataType.FP32, [1, 3], new float[] { 1, 2, 3 }.AsSpan());
        using var output = Assert.Single(backend.Run(0, [input], ["output"], new ComputeTimings()));
        Assert.Equal([1f, 2, 3], output.AsSpan<float>().ToArray());

        var unknown = Assert.Throws<ArgumentException>(() => OnnxBackend.Load(new ModelLoadSpec("m", 1, path, 1, 1) { Providers = ["gpu"] }));
        Assert.Contains("'gpu' is not an execution provider", unknown.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_model_with_a_type_the_protocol_cannot_carry_refuses_to_load_with_the_reason()
    {
        var model = OnnxModelWriter.Identity(OnnxElementType.Float8E4M3FN, 2).ToBytes();
        var ex = Assert.ThrowsAny<Exception>(() => Load("f8.onnx", model));
        Assert.Contains("input", ex.Message);
    }
}
