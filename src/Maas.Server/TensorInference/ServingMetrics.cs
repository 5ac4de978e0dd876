using System.Diagnostics.Metrics;
using System.Globalization;
using Maas.Core.Observability;
using Maas.Core.TensorServing;

namespace Maas.Server.TensorInference;

/// <summary>Per model and version metrics of ONNX serving, read from the schedulers' own counters at scrape time (LLM metrics: OpenAi/LlmMetrics; load, state, instances and memory
/// of every engine: ModelHosting/ModelHostMetrics).</summary>
/// <remarks>
/// The schedulers and engine loops already keep lock-free cumulative counters (the statistics extension reads
/// them too); exporting those as observable instruments costs the hot path nothing. The per-request histograms
/// (latency, queue time, compute time, batch size) are recorded by the schedulers themselves: Maas.Core's ServingTelemetry.
/// </remarks>
public sealed class ServingMetrics
{
    private const double NsPerSecond = 1e9;

    /// <summary>Registers the observable instruments on this app's "Maas" meter.</summary>
    public ServingMetrics(ModelManager models, IMeterFactory meters)
    {
        var meter = meters.Create(MaasTelemetry.Name);
        meter.CreateObservableCounter("maas.inference.requests", () => Onnx(models, s =>
            [Point(s.Success.Count, s, "status", "success"), Point(s.Fail.Count, s, "status", "failure")]),
            unit: "{request}", description: "Inference requests per model version and outcome (OIP v2, predict).");
        meter.CreateObservableCounter("maas.inference.request.duration", () => Onnx(models, s =>
            [Point(s.Success.Ns / NsPerSecond, s, "status", "success"), Point(s.Fail.Ns / NsPerSecond, s, "status", "failure")]),
            unit: "s", description: "Total time from arrival to response, per model version and outcome.");
        meter.CreateObservableCounter("maas.inference.queue.duration", () => Onnx(models, s => [Point(s.Queue.Ns / NsPerSecond, s)]),
            unit: "s", description: "Total time requests waited in the model's queue.");
        meter.CreateObservableCounter("maas.inference.compute.duration", () => Onnx(models, s =>
            [Point(s.ComputeInput.Ns / NsPerSecond, s, "phase", "input"), Point(s.ComputeInfer.Ns / NsPerSecond, s, "phase", "infer"),
             Point(s.ComputeOutput.Ns / NsPerSecond, s, "phase", "output")]),
            unit: "s", description: "Total compute time per phase (input copy, engine run, output copy).");
        meter.CreateObservableCounter("maas.inference.executions", () => Onnx(models, s => [Point(s.ExecutionCount, s)]),
            unit: "{execution}", description: "Engine runs; fewer than requests when the dynamic batcher merges them.");
        meter.CreateObservableCounter("maas.inference.batch.executions", () => Onnx(models, s =>
            s.BatchStats.Select(b => Point(b.ComputeInfer.Count, s, "batch_size", b.BatchSize.ToString(CultureInfo.InvariantCulture))).ToArray()),
            unit: "{execution}", description: "Engine runs per batch size.");
        meter.CreateObservableGauge("maas.inference.active.requests", () => Onnx(models, s =>
            [Point(models.ActiveRequests(s.Name, int.Parse(s.Version, CultureInfo.InvariantCulture)), s)]),
            unit: "{request}", description: "Requests queued or running per model version.");
    }

    private static IEnumerable<Measurement<double>> Onnx(ModelManager models, Func<ModelStatisticsSnapshot, Measurement<double>[]> select)
    {
        return models.Statistics().SelectMany(select).ToArray();
    }

    private static Measurement<double> Point(double value, ModelStatisticsSnapshot s, string? key = null, string? tag = null) =>
        key is null
            ? new(value, new("model", s.Name), new("version", s.Version))
            : new(value, new("model", s.Name), new("version", s.Version), new(key, tag));
}
