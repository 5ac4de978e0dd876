using Maas.Core.TensorServing;
using Maas.Runtimes.Onnx.Serving;

namespace Maas.Bench;

/// <summary>
/// ONNX Runtime in process run exactly as the server runs it, minus HTTP: the server's own engine code, the ONNX
/// backend (<see cref="Maas.Runtimes.Onnx.Serving.OnnxBackend"/>: session options, threads named after the model,
/// an OrtValue over the input's buffer, the outputs copied out into pooled tensors) behind the server's scheduler
/// (<see cref="ModelScheduler"/>: its worker thread, queue, statistics and completions on the thread pool), with the
/// server's scheduler defaults. Each call's input is a pooled buffer the caller fills first, as the server's request
/// reading does, so ONNX Runtime reads an input written just before on another thread, not one array that stays in
/// the cache. The engine's threads are the same on both sides (the scheduler worker and ONNX Runtime's threads); the
/// caller's copy and the client loops are the rest.
/// </summary>
internal sealed class EngineWorker : IAsyncDisposable
{
    public const string ModelName = "inproc";

    private readonly OnnxBackend _backend;
    private readonly ModelScheduler _scheduler;
    private readonly string _input;
    private readonly long[] _shape;
    private readonly byte[] _data;

    public EngineWorker(string modelPath, int threads, string input, long[] shape, byte[] data, string model = ModelName)
    {
        _backend = OnnxBackend.Load(new ModelLoadSpec(model, 1, modelPath, 1, threads));
        var options = new Maas.Server.TensorInference.InferenceOptions().SchedulerDefaults() with { InstanceCount = 1, ThreadsPerInstance = threads };
        _scheduler = new ModelScheduler(model, "1", _backend, options, new InferenceStatistics());
        _input = input;
        _shape = shape;
        _data = data;
    }

    public async Task<bool> CallAsync(int client, CancellationToken ct)
    {
        var buffer = PooledBuffer.Rent(_data.Length);
        _data.CopyTo(buffer.Span);
        var request = new InferenceRequest { Inputs = [Tensor.Wrap(_input, TensorDataType.FP32, _shape, buffer.Memory, buffer)] };
        using var response = await _scheduler.InferAsync(request, ct);
        return response.Outputs.Count > 0;
    }

    /// <summary>Runs a request the caller built (the floor server's, whose input was received into its buffer).</summary>
    public Task<InferenceResponse> InferAsync(InferenceRequest request, CancellationToken ct) => _scheduler.InferAsync(request, ct);

    public async ValueTask DisposeAsync()
    {
        await _scheduler.DisposeAsync();
        _backend.Dispose();
    }
}
