using System.Diagnostics.Metrics;
using System.Globalization;
using Maas.Core.Hosting;
using Maas.Core.Observability;

namespace Maas.Server.ModelHosting;

/// <summary>
/// The model host's metrics for every engine, labelled by <c>engine</c>: versions loaded, each version's state, engine
/// instances and measured memory, the memory budget, load attempts with their duration, evictions, reloads and how
/// long requests waited for a load.
/// </summary>
public sealed class ModelHostMetrics
{
    /// <summary>Registers the instruments on this app's "Maas" meter.</summary>
    public ModelHostMetrics(ModelHost host, IMeterFactory meters)
    {
        var meter = meters.Create(MaasTelemetry.Name);
        meter.CreateObservableGauge("maas.models.loaded", () => Loaded(host), unit: "{model}", description: "Model versions loaded, per engine.");
        meter.CreateObservableGauge("maas.model.state", () => host.Models().Select(s => new Measurement<int>(1,
            Tags(s, new("state", s.State.ToLabel())))), unit: "{model}",
            description: "One per model version the host knows, labelled with its state (ready, loading, unloading, unavailable).");
        meter.CreateObservableGauge("maas.model.instances", () => host.Models().Select(s => new Measurement<int>(s.Instances, Tags(s))),
            unit: "{instance}", description: "Engine instances loaded per model version the host knows (0 while not loaded).");
        meter.CreateObservableGauge("maas.model.memory", () => Memory(host), unit: "By",
            description: "Memory of each loaded version by kind: accounted (what the budget charges), private, mapped_file, engine, estimated.");
        meter.CreateObservableGauge("maas.model.memory.budget", () => host.Options.MemoryBudgetBytes, unit: "By",
            description: "Bytes all loaded models may take together (0: no budget).");

        var loadDuration = meter.CreateHistogram<double>("maas.model.load.duration", unit: "s",
            description: "Load attempts per model version, engine and outcome, by how long they took.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300] });
        var loadFailures = meter.CreateCounter<long>("maas.model.load.failures", unit: "{load}",
            description: "Failed load attempts per model version and engine.");
        var evictions = meter.CreateCounter<long>("maas.model.evictions", unit: "{model}",
            description: "Loaded model versions evicted to make room, per version, engine and cause (memory_budget, memory_quota).");
        meter.CreateObservableCounter("maas.model.reloads", () => host.ReloadCount, unit: "{load}",
            description: "Loads of versions that had been loaded before and were evicted or unloaded since.");
        var loadWait = meter.CreateHistogram<double>("maas.model.load.wait", unit: "s",
            description: "How long requests waited for their model to load, per version, engine and outcome (loaded, failed, timeout).",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300] });
        host.Evicted += e => evictions.Add(1, new("model", e.Key.Name), new("version", e.Key.Version.ToString(CultureInfo.InvariantCulture)),
            new("engine", e.Engine), new("cause", e.Cause));
        host.LoadWaited += w => loadWait.Record(w.Duration.TotalSeconds, new("model", w.Key.Name),
            new("version", w.Key.Version.ToString(CultureInfo.InvariantCulture)), new("engine", w.Engine), new("outcome", w.Outcome));
        host.LoadReported += r =>
        {
            var model = new KeyValuePair<string, object?>("model", r.Model);
            var version = new KeyValuePair<string, object?>("version", r.Version.ToString(CultureInfo.InvariantCulture));
            var engine = new KeyValuePair<string, object?>("engine", r.Engine);
            loadDuration.Record(r.Duration.TotalSeconds, model, version, engine, new("status", r.Succeeded ? "success" : "failure"));
            if (!r.Succeeded)
            {
                loadFailures.Add(1, model, version, engine);
            }
        };
    }

    private static IEnumerable<Measurement<int>> Loaded(ModelHost host)
    {
        // Every engine reports, 0 when none of its models is loaded.
        var ready = host.Models().Where(s => s.State == ModelState.Ready).GroupBy(s => s.Engine).ToDictionary(g => g.Key, g => g.Count());
        return host.Engines.Select(e => new Measurement<int>(ready.GetValueOrDefault(e), new KeyValuePair<string, object?>("engine", e))).ToArray();
    }

    private static IEnumerable<Measurement<long>> Memory(ModelHost host)
    {
        var points = new List<Measurement<long>>();
        foreach (var s in host.Models(measureMappedFiles: true))
        {
            if (s.Memory is not { } m)
            {
                continue;
            }

            points.Add(new(m.AccountedBytes, Tags(s, new("kind", "accounted"))));
            points.Add(new(m.PrivateBytes, Tags(s, new("kind", "private"))));
            points.Add(new(m.MappedFileBytes, Tags(s, new("kind", "mapped_file"))));
            points.Add(new(m.EngineBytes, Tags(s, new("kind", "engine"))));
            points.Add(new(m.EstimatedBytes, Tags(s, new("kind", "estimated"))));
        }

        return points;
    }

    private static KeyValuePair<string, object?>[] Tags(HostedModelStatus s) =>
        [new("model", s.Key.Name), new("version", s.Key.Version.ToString(CultureInfo.InvariantCulture)), new("engine", s.Engine)];

    private static KeyValuePair<string, object?>[] Tags(HostedModelStatus s, KeyValuePair<string, object?> extra) =>
        [new("model", s.Key.Name), new("version", s.Key.Version.ToString(CultureInfo.InvariantCulture)), new("engine", s.Engine), extra];
}
