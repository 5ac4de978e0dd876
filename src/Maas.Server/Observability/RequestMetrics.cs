using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Globalization;
using Maas.Core.Observability;
using Maas.Core.Tenancy;
using Maas.Server.Auth;
using Microsoft.Extensions.Options;

namespace Maas.Server.Observability;

/// <summary>
/// Metrics of every keyed request, from its usage record. <c>maas.request.duration</c> by protocol, route, model,
/// version and status stands in for ASP.NET Core's own HTTP server meters, which cost about 5% of throughput on the
/// batching benchmark (they stay available behind <c>Maas:Observability:HttpServerMetrics</c>). Per-tenant series
/// exist only with <c>Maas:Usage:TenantMetrics</c>: a tenant label multiplies series, so no other metric carries one.
/// </summary>
public sealed class RequestMetrics
{
    // Label text of small numbers (statuses, versions), made once.
    private static readonly string[] SmallNumbers = Enumerable.Range(0, 600).Select(n => n.ToString(CultureInfo.InvariantCulture)).ToArray();
    private readonly Histogram<double> _duration;
    private readonly Counter<long>? _tenantRequests;
    private readonly Counter<long>? _tenantTokens;
    private readonly Counter<double>? _tenantCompute;

    /// <summary>Creates the instruments on this app's "Maas" meter.</summary>
    public RequestMetrics(IMeterFactory meters, IOptions<UsageOptions> usage)
    {
        var meter = meters.Create(MaasTelemetry.Name);
        _duration = meter.CreateHistogram(
            "maas.request.duration",
            "s",
            "Time from a request's arrival to its end, per protocol, route, model, version and status (keyed requests; probes are not counted).",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = ServingTelemetry.LatencyBuckets });
        if (usage.Value.TenantMetrics)
        {
            _tenantRequests = meter.CreateCounter<long>("maas.tenant.requests", "{request}", "Requests per tenant, model, protocol and status class");
            _tenantTokens = meter.CreateCounter<long>("maas.tenant.tokens", "{token}", "LLM prompt and completion tokens per tenant and model");
            _tenantCompute = meter.CreateCounter<double>("maas.tenant.compute", "s", "Engine time billed per tenant and model");
        }
    }

    /// <summary>Records one finished request.</summary>
    public void Record(UsageRecord record)
    {
        var tags = new TagList
        {
            { "protocol", record.Protocol },
            { "route", record.Operation },
            { "model", LabelOf(record) },
            { "version", record.Version is { } v ? Text(v) : "" },
            { "status", Text(record.Status) },
        };
        _duration.Record(record.LatencyMs / 1000.0, tags);
        if (_tenantRequests is not null)
        {
            RecordTenant(record);
        }
    }

    // A usage record names the model as its tenant does (short for its own models); a series names it by its key
    // (ModelKeys), so two tenants' "faces" never share one.
    private static string LabelOf(UsageRecord record) =>
        record.Model is not { } model ? ""
        : model.Contains('/', StringComparison.Ordinal) ? Maas.Core.Registry.ModelKeys.Normalize(model)
        : Maas.Core.Registry.ModelKeys.Of(record.Tenant, model);

    private void RecordTenant(UsageRecord record)
    {
        var tenant = new KeyValuePair<string, object?>("tenant", record.Tenant);
        var model = new KeyValuePair<string, object?>("model", LabelOf(record));
        _tenantRequests!.Add(1, tenant, model, new("protocol", record.Protocol), new("status", StatusClass(record.Status)));
        if (record.PromptTokens > 0)
        {
            _tenantTokens!.Add(record.PromptTokens, tenant, model, new("type", "prompt"));
        }

        if (record.CompletionTokens > 0)
        {
            _tenantTokens!.Add(record.CompletionTokens, tenant, model, new("type", "completion"));
        }

        if (record.ComputeMs > 0)
        {
            _tenantCompute!.Add(record.ComputeMs / 1000.0, tenant, model);
        }
    }

    private static string Text(int n) => n is >= 0 and < 600 ? SmallNumbers[n] : n.ToString(CultureInfo.InvariantCulture);

    private static string StatusClass(int status) => status switch
    {
        < 200 => "1xx",
        < 300 => "2xx",
        < 400 => "3xx",
        < 500 => "4xx",
        _ => "5xx",
    };
}
