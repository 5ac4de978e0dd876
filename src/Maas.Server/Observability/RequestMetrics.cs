using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Globalization;
using Maas.Core.Observability;
using Maas.Core.Tenancy;

namespace Maas.Server.Observability;

/// <summary>
/// One histogram of every keyed request, from its usage record: <c>maas.request.duration</c> by protocol, route,
/// model, version and status. It stands in for ASP.NET Core's own HTTP server meters, which cost about 5% of
/// throughput on the batching benchmark (they stay available behind <c>Maas:Observability:HttpServerMetrics</c>).
/// </summary>
public sealed class RequestMetrics
{
    private static readonly string[] StatusText = Enumerable.Range(0, 600).Select(s => s.ToString(CultureInfo.InvariantCulture)).ToArray();
    private readonly Histogram<double> _duration;

    /// <summary>Creates the histogram on this app's "Maas" meter.</summary>
    public RequestMetrics(IMeterFactory meters)
    {
        var meter = meters.Create(MaasTelemetry.Name);
        _duration = meter.CreateHistogram(
            "maas.request.duration",
            "s",
            "Time from a request's arrival to its end, per protocol, route, model, version and status (keyed requests; probes are not counted).",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = ServingTelemetry.LatencyBuckets });
    }

    /// <summary>Records one finished request.</summary>
    public void Record(UsageRecord record)
    {
        var status = record.Status is >= 0 and < 600 ? StatusText[record.Status] : record.Status.ToString(CultureInfo.InvariantCulture);
        var tags = new TagList
        {
            { "protocol", record.Protocol },
            { "route", record.Operation },
            { "model", record.Model ?? "" },
            { "version", record.Version is { } v ? (v is >= 0 and < 600 ? StatusText[v] : v.ToString(CultureInfo.InvariantCulture)) : "" },
            { "status", status },
        };
        _duration.Record(record.LatencyMs / 1000.0, tags);
    }
}
