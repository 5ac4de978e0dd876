using System.Collections.Concurrent;
using System.IO.MemoryMappedFiles;
using System.Text;
using Maas.Core.Formats;
using Maas.Core.TensorServing;

namespace Maas.Core.Tests.TensorServing;

/// <summary>
/// A real in-process backend that computes on the CPU: y = 2x + 1 and the row sums of x, or (for BYTES) the
/// upper-cased strings. Runs can be held at a gate so tests can fill the queue deterministically.
/// </summary>
internal sealed class CpuBackend : IModelBackend
{
    private readonly ManualResetEventSlim _gate = new(true);
    private readonly bool _text;

    public CpuBackend(long batchDim = -1, int instances = 1, bool text = false, int width = 4)
    {
        _text = text;
        InstanceCount = instances;
        if (text)
        {
            Inputs = [new TensorMetadata("text", TensorDataType.Bytes, [batchDim])];
            Outputs = [new TensorMetadata("upper", TensorDataType.Bytes, [batchDim])];
        }
        else
        {
            Inputs = [new TensorMetadata("x", TensorDataType.FP32, [batchDim, width])];
            Outputs = [new TensorMetadata("y", TensorDataType.FP32, [batchDim, width]), new TensorMetadata("sum", TensorDataType.FP32, [batchDim, 1])];
        }
    }

    public string Platform => "cpu_test";

    public IReadOnlyList<TensorMetadata> Inputs { get; }

    public IReadOnlyList<TensorMetadata> Outputs { get; }

    public int InstanceCount { get; }

    /// <summary>The batch sizes (rows) of every run, in order.</summary>
    public ConcurrentQueue<long> RunRows { get; } = new();

    /// <summary>Runs that have started (including ones held at the gate).</summary>
    public int Started => _started;

    public bool Disposed { get; private set; }

    /// <summary>The model file mapped into memory while loaded (as llama.cpp maps its weights), or null.</summary>
    public IDisposable? Weights { get; init; }

    /// <summary>When set, the next runs throw this message.</summary>
    public string? FailWith { get; set; }

    private int _started;

    public void Close() => _gate.Reset();

    public void Open() => _gate.Set();

    public IReadOnlyList<Tensor> Run(int instance, IReadOnlyList<Tensor> inputs, IReadOnlyList<string> outputNames, ComputeTimings timings)
    {
        Interlocked.Increment(ref _started);
        _gate.Wait(TimeSpan.FromSeconds(30));
        var x = inputs.Single();
        RunRows.Enqueue(x.Shape[0]);
        if (FailWith is { } message)
        {
            throw new InvalidOperationException(message);
        }

        if (_text)
        {
            var upper = x.GetStrings().Select(s => Encoding.UTF8.GetBytes(s.ToUpperInvariant())).ToArray();
            return [Tensor.FromByteStrings("upper", x.Shape, upper)];
        }

        var values = x.AsSpan<float>();
        var rows = x.Shape[0];
        var width = x.Shape[1];
        var result = new List<Tensor>();
        foreach (var name in outputNames)
        {
            if (name == "y")
            {
                var y = Tensor.Allocate("y", TensorDataType.FP32, [rows, width]);
                var ys = y.AsSpan<float>();
                for (var i = 0; i < values.Length; i++)
                {
                    ys[i] = (2 * values[i]) + 1;
                }

                result.Add(y);
            }
            else
            {
                var sum = Tensor.Allocate("sum", TensorDataType.FP32, [rows, 1]);
                var ss = sum.AsSpan<float>();
                for (var r = 0; r < rows; r++)
                {
                    float s = 0;
                    for (var c = 0; c < width; c++)
                    {
                        s += values[(int)((r * width) + c)];
                    }

                    ss[(int)r] = s;
                }

                result.Add(sum);
            }
        }

        return result;
    }

    public void Dispose()
    {
        Weights?.Dispose();
        Disposed = true;
    }
}

/// <summary>Loads <see cref="CpuBackend"/>s for the model manager tests; counts loads.</summary>
internal sealed class CpuBackendFactory : IModelBackendFactory
{
    public int Loads => _loads;

    public TimeSpan LoadTime { get; set; }

    public List<CpuBackend> Loaded { get; } = [];

    private int _loads;

    public string Engine => "cpu_test";

    /// <summary>Map the model file and read every page of it at load, so its pages are resident and file-backed.</summary>
    public bool MapWeights { get; set; }

    public bool CanLoad(ModelFormat format) => format == ModelFormat.Onnx;

    /// <summary>For every load, whether it ran on a thread-pool thread.</summary>
    public ConcurrentQueue<bool> LoadedOnPoolThread { get; } = new();

    /// <summary>Runs first in every load, on the load's own thread (a test may hold a load there).</summary>
    public Action<ModelLoadSpec>? BeforeLoad { get; set; }

    public IModelBackend Load(ModelLoadSpec spec, CancellationToken cancellationToken)
    {
        BeforeLoad?.Invoke(spec);
        Interlocked.Increment(ref _loads);
        LoadedOnPoolThread.Enqueue(Thread.CurrentThread.IsThreadPoolThread);
        Thread.Sleep(LoadTime);
        if (!File.Exists(spec.ArtifactPath))
        {
            throw new FileNotFoundException($"no model file at {spec.ArtifactPath}");
        }

        var backend = new CpuBackend(instances: spec.InstanceCount) { Weights = MapWeights ? MapAndTouch(spec.ArtifactPath) : null };
        lock (Loaded)
        {
            Loaded.Add(backend);
        }

        return backend;
    }

    private static MappedWeights MapAndTouch(string path)
    {
        var length = new FileInfo(path).Length;
        var file = MemoryMappedFile.CreateFromFile(path, FileMode.Open, null, 0, MemoryMappedFileAccess.Read);
        var view = file.CreateViewAccessor(0, length, MemoryMappedFileAccess.Read);
        for (long offset = 0; offset < length; offset += Environment.SystemPageSize)
        {
            view.ReadByte(offset);
        }

        return new MappedWeights(file, view);
    }

    // The mapping lasts as long as the view; both go when the backend unloads.
    private sealed class MappedWeights(MemoryMappedFile file, MemoryMappedViewAccessor view) : IDisposable
    {
        public void Dispose()
        {
            view.Dispose();
            file.Dispose();
        }
    }
}

/// <summary>A catalog over an in-memory list, standing in for the registry in Core (which has no database).</summary>
internal sealed class ListCatalog : IServableModelCatalog
{
    public List<ServableModel> Models { get; } = [];

    public Dictionary<(string, int), string> Paths { get; } = [];

    public ValueTask<ServableModel> ResolveAsync(string model, string? version, CancellationToken cancellationToken)
    {
        var candidates = Models.Where(m => m.Name == model).ToList();
        var found = version is null
            ? candidates.MaxBy(m => m.Version)
            : candidates.FirstOrDefault(m => m.Version.ToString(System.Globalization.CultureInfo.InvariantCulture) == version);
        return found is not null
            ? ValueTask.FromResult(found)
            : throw new InferenceException(InferenceErrorKind.NotFound, $"model '{model}' version {version ?? "(latest)"} not found");
    }

    public ValueTask<IReadOnlyList<ServableModel>> ListAsync(CancellationToken cancellationToken) =>
        ValueTask.FromResult<IReadOnlyList<ServableModel>>([.. Models]);

    public ValueTask<IReadOnlyList<int>> VersionsAsync(string name, CancellationToken cancellationToken) =>
        ValueTask.FromResult<IReadOnlyList<int>>(Models.Where(m => m.Name == name).Select(m => m.Version).Order().ToArray());

    public ValueTask<string> GetArtifactPathAsync(ServableModel model, CancellationToken cancellationToken) =>
        ValueTask.FromResult(Paths[(model.Name, model.Version)]);
}

internal static class Requests
{
    public static InferenceRequest Rows(float start, int rows = 1, int width = 4, IReadOnlyList<string>? outputs = null, TimeSpan? timeout = null)
    {
        var values = Enumerable.Range(0, rows * width).Select(i => start + i).ToArray();
        return new InferenceRequest
        {
            Id = $"req-{start}",
            Inputs = [Tensor.FromValues("x", TensorDataType.FP32, [rows, width], values.AsSpan())],
            RequestedOutputs = outputs,
            Timeout = timeout,
        };
    }

    public static float[] Floats(this InferenceResponse response, string name) =>
        response.Outputs.Single(o => o.Name == name).AsSpan<float>().ToArray();
}
