using System.Diagnostics.Metrics;
using Maas.Core.Tenancy;
using Maas.Server.Auth;
using Microsoft.Extensions.Options;

namespace Maas.Server.Tenancy;

/// <summary>
/// Per-tenant counters from the usage records (meter <c>Maas.Tenancy</c>), only when <c>Maas:Usage:TenantMetrics</c>
/// is on: a tenant label multiplies series, so other metrics never carry one.
/// </summary>
public sealed class TenantMetrics
{
    private readonly Counter<long>? _requests;
    private readonly Counter<long>? _tokens;
    private readonly Counter<double>? _compute;

    /// <summary>Creates the instruments when the option is on.</summary>
    public TenantMetrics(IMeterFactory meters, IOptions<UsageOptions> options)
    {
        if (!options.Value.TenantMetrics)
        {
            return;
        }

        var meter = meters.Create("Maas.Tenancy");
        _requests = meter.CreateCounter<long>("maas.tenant.requests", "{request}", "Requests per tenant, model, protocol and status class");
        _tokens = meter.CreateCounter<long>("maas.tenant.tokens", "{token}", "LLM prompt and completion tokens per tenant and model");
        _compute = meter.CreateCounter<double>("maas.tenant.compute", "s", "Engine time billed per tenant and model");
    }

    /// <summary>Counts one finished request.</summary>
    public void Record(UsageRecord record)
    {
        if (_requests is null)
        {
            return;
        }

        var tenant = new KeyValuePair<string, object?>("tenant", record.Tenant);
        var model = new KeyValuePair<string, object?>("model", record.Model ?? "");
        _requests.Add(1, tenant, model, new("protocol", record.Protocol), new("status", StatusClass(record.Status)));
        if (record.PromptTokens > 0)
        {
            _tokens!.Add(record.PromptTokens, tenant, model, new("type", "prompt"));
        }

        if (record.CompletionTokens > 0)
        {
            _tokens!.Add(record.CompletionTokens, tenant, model, new("type", "completion"));
        }

        if (record.ComputeMs > 0)
        {
            _compute!.Add(record.ComputeMs / 1000.0, tenant, model);
        }
    }

    private static string StatusClass(int status) => status switch
    {
        < 200 => "1xx",
        < 300 => "2xx",
        < 400 => "3xx",
        < 500 => "4xx",
        _ => "5xx",
    };
}
