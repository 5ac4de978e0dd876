using System.ComponentModel.DataAnnotations;

namespace Maas.Server.Observability;

/// <summary>Switches for metrics and tracing (both on by default; off costs nothing on the request path).</summary>
public sealed class ObservabilityOptions
{
    /// <summary>The configuration section these options bind from.</summary>
    public const string Section = "Maas:Observability";

    /// <summary>Record metrics: GET /metrics, the serving histograms, LLM metrics, OTLP metric export. Off: /metrics answers 404.</summary>
    public bool Metrics { get; set; } = true;

    /// <summary>Make spans (request children: queue, batch, engine run, encode, gen-AI) when a listener such as the OTLP exporter samples them.</summary>
    public bool Tracing { get; set; } = true;

    /// <summary>
    /// Also export ASP.NET Core's own HTTP server and Kestrel meters (<c>http_server_request_duration_seconds</c> and
    /// friends). Off by default: <c>maas_request_duration_seconds</c> covers every keyed request, and the framework's
    /// meters cost about 5% of throughput on the batching benchmark.
    /// </summary>
    public bool HttpServerMetrics { get; set; }

    /// <summary>
    /// Share of new traces (0 to 1) the OTLP trace exporter keeps, parent-based: a caller's sampled or unsampled
    /// traceparent is followed as it is, and only traces that start here are kept at this ratio (by trace id).
    /// Unkept requests still get their trace context, but no span is recorded for them.
    /// </summary>
    [Range(0.0, 1.0)]
    public double TraceSampleRatio { get; set; } = 1;

    /// <summary>The default of <see cref="MaxSeriesPerMetric"/> (OpenTelemetry's own default cardinality limit).</summary>
    public const int DefaultMaxSeriesPerMetric = 2000;

    /// <summary>
    /// The most label sets (series) one metric keeps, in /metrics and in OTLP export; measurements of further label
    /// sets are added to one series labelled <c>otel_metric_overflow="true"</c>, so callers cannot grow memory or the
    /// scrape without bound.
    /// </summary>
    [Range(10, 1_000_000)]
    public int MaxSeriesPerMetric { get; set; } = DefaultMaxSeriesPerMetric;

    /// <summary>
    /// Minutes a counter or histogram series of /metrics may stay unchanged before it is dropped (0 keeps series until
    /// restart): the series of deleted models, versions, deployments and tenants then leave the scrape and the
    /// <see cref="MaxSeriesPerMetric"/> cap. One that moves again comes back from zero (a counter reset to Prometheus).
    /// </summary>
    [Range(0, 525_600)]
    public int SeriesIdleMinutes { get; set; } = 60;
}
