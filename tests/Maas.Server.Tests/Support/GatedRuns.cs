using System.Collections.Concurrent;
using Maas.Core.Formats;
using Maas.Core.TensorServing;
using Maas.Runtimes.Onnx.Serving;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;

namespace Maas.Server.Tests.Support;

/// <summary>
/// ONNX Runtime's backend factory with a gate in front of every run of a model: while a test keeps a model's gate
/// closed, its batches wait at the gate, inside their run, until the test opens it. A test that needs a batch still
/// running (a full queue, a request waiting behind it) holds it there, rather than hoping a big batch outlasts the
/// test's next steps on a fast or a busy host.
/// </summary>
internal sealed class GatedRuns(IModelBackendFactory inner) : IModelBackendFactory
{
    // Far past any test's hold; a run held this long fails rather than keeping the server from stopping.
    private static readonly TimeSpan MaxHold = TimeSpan.FromMinutes(3);

    private readonly ConcurrentDictionary<string, RunGate> _gates = new(StringComparer.Ordinal);

    /// <summary>Registers a <see cref="GatedRuns"/> over ONNX Runtime's factory; <paramref name="runs"/> gets it once the server builds it.</summary>
    public static Action<WebApplicationBuilder> Install(Action<GatedRuns> runs) =>
        builder => builder.Services.AddSingleton<IModelBackendFactory>(_ =>
        {
            var gated = new GatedRuns(new OnnxBackendFactory());
            runs(gated);
            return gated;
        });

    public string Engine => inner.Engine;

    /// <summary>The gate in front of the runs of <paramref name="model"/> (open until closed).</summary>
    public RunGate Gate(string model) => _gates.GetOrAdd(model, _ => new RunGate());

    /// <summary>Opens every gate (a failed test must not leave a run held while its server stops).</summary>
    public void OpenAll()
    {
        foreach (var gate in _gates.Values)
        {
            gate.Open();
        }
    }

    public bool CanLoad(ModelFormat format) => inner.CanLoad(format);

    public IModelBackend Load(ModelLoadSpec spec, CancellationToken cancellationToken) =>
        new Gated(inner.Load(spec, cancellationToken), Gate(spec.Name));

    /// <summary>A gate runs wait at while it is closed.</summary>
    internal sealed class RunGate
    {
        private readonly ManualResetEventSlim _open = new(initialState: true);
        private int _held;

        /// <summary>Runs waiting at the gate now (each is a batch the scheduler counts as executing).</summary>
        public int Held => Volatile.Read(ref _held);

        /// <summary>Runs from now on wait until <see cref="Open"/>.</summary>
        public void Close() => _open.Reset();

        /// <summary>Lets the waiting runs and every later one through.</summary>
        public void Open() => _open.Set();

        internal void Pass()
        {
            Interlocked.Increment(ref _held);
            try
            {
                if (!_open.Wait(MaxHold))
                {
                    throw new TimeoutException($"a run was held at the test's gate for {MaxHold.TotalMinutes} minutes");
                }
            }
            finally
            {
                Interlocked.Decrement(ref _held);
            }
        }
    }

    private sealed class Gated(IModelBackend backend, RunGate gate) : IModelBackend
    {
        public string Platform => backend.Platform;

        public IReadOnlyList<TensorMetadata> Inputs => backend.Inputs;

        public IReadOnlyList<TensorMetadata> Outputs => backend.Outputs;

        public int InstanceCount => backend.InstanceCount;

        public IReadOnlyList<Tensor> Run(int instance, IReadOnlyList<Tensor> inputs, IReadOnlyList<string> outputNames, ComputeTimings timings)
        {
            gate.Pass();
            return backend.Run(instance, inputs, outputNames, timings);
        }

        public void Dispose() => backend.Dispose();
    }
}
