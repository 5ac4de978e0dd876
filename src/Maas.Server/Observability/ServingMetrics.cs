using System.Diagnostics.Metrics;
using System.Globalization;
using Maas.Core.Llm;
using Maas.Core.Observability;
using Maas.Core.Serving;

namespace Maas.Server.Observability;

/// <summary>Per model and version metrics of ONNX serving, read from the schedulers' own counters at scrape time (LLM metrics: OpenAi/LlmMetrics).</summary>
/// <remarks>
/// The schedulers and engine loops already keep lock-free cumulative counters (the statistics extension reads
/// them too); exporting those as observable instruments costs the hot path nothing. The per-request histograms
/// (latency, queue time, compute time, batch size) are recorded by the schedulers themselves: Maas.Core's ServingTelemetry.
/// </remarks>
public sealed class ServingMetrics
{
    private const double NsPerSecond = 1e9;

    /// <summary>Registers the observable instruments on this app's "Maas" meter.</summary>
    public ServingMetrics(ModelManager models, LlmEngineManager llms, IMeterFactory meters)
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
            [Point(models.ActiveRequests(s.Name, long.Parse(s.Version, CultureInfo.InvariantCulture)), s)]),
            unit: "{request}", description: "Requests queued or running per model version.");

        meter.CreateObservableGauge("maas.models.loaded", () => LoadedCounts(models, llms), unit: "{model}", description: "Model versions loaded, per engine.");

        meter.CreateObservableGauge("maas.model.instances", () => Instances(models, llms), unit: "{instance}",
            description: "Engine instances loaded per model version and engine.");

        var loadDuration = meter.CreateHistogram<double>("maas.model.load.duration", unit: "s",
            description: "Load attempts per model version, engine and outcome, by how long they took.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300] });
        var loadFailures = meter.CreateCounter<long>("maas.model.load.failures", unit: "{load}",
            description: "Failed load attempts per model version and engine.");
        void Report(ModelLoadReport r)
        {
            var model = new KeyValuePair<string, object?>("model", r.Model);
            var version = new KeyValuePair<string, object?>("version", r.Version.ToString(CultureInfo.InvariantCulture));
            var engine = new KeyValuePair<string, object?>("engine", r.Engine);
            loadDuration.Record(r.Duration.TotalSeconds, model, version, engine, new("status", r.Succeeded ? "success" : "failure"));
            if (!r.Succeeded)
            {
                loadFailures.Add(1, model, version, engine);
            }
        }

        models.LoadReported += Report;
        llms.LoadReported += Report;
    }

    private static IEnumerable<Measurement<double>> Onnx(ModelManager models, Func<ModelStatisticsSnapshot, Measurement<double>[]> select)
    {
        return models.Statistics().SelectMany(select).ToArray();
    }

    private static Measurement<double> Point(double value, ModelStatisticsSnapshot s, string? key = null, string? tag = null) =>
        key is null
            ? new(value, new("model", s.Name), new("version", s.Version))
            : new(value, new("model", s.Name), new("version", s.Version), new(key, tag));

    private static IEnumerable<Measurement<int>> Instances(ModelManager models, LlmEngineManager llms)
    {
        var onnx = models.Versions().Select(v => new Measurement<int>(v.Instances,
            new("model", v.Name), new("version", v.Version.ToString(CultureInfo.InvariantCulture)), new("engine", "onnxruntime")));
        var llm = llms.Loaded().Select(e => new Measurement<int>(1,
            new("model", e.Name), new("version", e.Version.ToString(CultureInfo.InvariantCulture)), new("engine", "llama.cpp")));
        return [.. onnx, .. llm];
    }

    private static IEnumerable<Measurement<int>> LoadedCounts(ModelManager models, LlmEngineManager llms)
    {
        var onnx = models.Versions().Count(v => v.State == "READY");
        return [new(onnx, new KeyValuePair<string, object?>("engine", "onnxruntime")), new(llms.Loaded().Count, new KeyValuePair<string, object?>("engine", "llama.cpp"))];
    }
}
