using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace Maas.Core.Observability;

/// <summary>
/// The histograms and spans of ONNX serving for one app: made once with the app's meter (null: metrics off) and
/// whether tracing is on; each scheduler takes its per-version view from <see cref="For"/>.
/// </summary>
public sealed class ServingTelemetry
{
    /// <summary>Bucket boundaries (seconds) of the latency histograms: 100 µs to 30 s, as small models answer in well under a millisecond.</summary>
    public static readonly double[] LatencyBuckets = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

    /// <summary>Bucket boundaries (rows) of the batch size histogram: powers of two.</summary>
    public static readonly long[] BatchBuckets = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024];

    /// <summary>No metrics, no spans.</summary>
    public static readonly ServingTelemetry Off = new(null, tracing: false);

    /// <summary>Creates the instruments on <paramref name="meter"/> (none when null).</summary>
    public ServingTelemetry(Meter? meter, bool tracing)
    {
        Tracing = tracing;
        if (meter is null)
        {
            return;
        }

        var latency = new InstrumentAdvice<double> { HistogramBucketBoundaries = LatencyBuckets };
        RequestLatency = meter.CreateHistogram("maas.inference.request.latency", "s",
            "Time from a request's arrival at the model's queue to its result, per model version and outcome.", advice: latency);
        QueueTime = meter.CreateHistogram("maas.inference.queue.time", "s",
            "Time a request waited in the model's queue before its batch started.", advice: latency);
        ComputeTime = meter.CreateHistogram("maas.inference.compute.time", "s",
            "Engine run time of one execution (one batch), per model version.", advice: latency);
        BatchSize = meter.CreateHistogram("maas.inference.batch.size", "{row}",
            "Rows per engine execution (the dynamic batcher's batch size), per model version.",
            advice: new InstrumentAdvice<long> { HistogramBucketBoundaries = BatchBuckets });
    }

    /// <summary>True when spans are wanted (they are still made only while a listener samples them).</summary>
    public bool Tracing { get; }

    internal Histogram<double>? RequestLatency { get; }

    internal Histogram<double>? QueueTime { get; }

    internal Histogram<double>? ComputeTime { get; }

    internal Histogram<long>? BatchSize { get; }

    /// <summary>The view of one model version (its tags made once).</summary>
    public ModelTelemetry For(string model, string version) => new(this, model, version);

    /// <summary>
    /// Starts a <c>maas.encode</c> span (a child of the current request's span) around writing a response; null when
    /// tracing is off or nobody listens. Dispose it when the response is written.
    /// </summary>
    public Activity? StartEncode(TensorServing.InferenceResponse response, string protocol)
    {
        if (!Tracing || !MaasTelemetry.Source.HasListeners())
        {
            return null;
        }

        var span = MaasTelemetry.Source.StartActivity("maas.encode", ActivityKind.Internal);
        if (span is { IsAllDataRequested: true })
        {
            // AddTag: a new span has no tags to replace, so SetTag's search is wasted.
            span.AddTag("maas.model", response.ModelName);
            span.AddTag("maas.model.version", response.ModelVersion);
            span.AddTag("maas.protocol", protocol);
        }

        return span;
    }

    // Span tags are objects; batch sizes, request counts and instance numbers are small, so box them once.
    private static readonly object[] s_boxedInts = [.. Enumerable.Range(0, 1025).Select(i => (object)i)];
    private static readonly object[] s_boxedLongs = [.. Enumerable.Range(0, 1025).Select(i => (object)(long)i)];

    internal static object Boxed(int value) => (uint)value < (uint)s_boxedInts.Length ? s_boxedInts[value] : value;

    internal static object Boxed(long value) => (ulong)value < (ulong)s_boxedLongs.Length ? s_boxedLongs[value] : value;
}
