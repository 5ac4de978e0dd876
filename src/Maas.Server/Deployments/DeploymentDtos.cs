using Maas.Core.Deployments;
using Maas.Core.Registry;
using Maas.Server.Auth;

namespace Maas.Server.Deployments;

/// <summary>The body of POST /api/v1/deployments.</summary>
internal sealed record CreateDeploymentRequest(
    string? Model,
    string? Name,
    IReadOnlyList<TrafficShare>? Traffic,
    IReadOnlyList<ShadowTarget>? Shadow,
    StickyRouting? Sticky,
    RolloutPlan? Plan);

/// <summary>The body of PATCH/PUT /api/v1/deployments/{name}.</summary>
internal sealed record UpdateDeploymentRequest(
    IReadOnlyList<TrafficShare>? Traffic,
    IReadOnlyList<ShadowTarget>? Shadow,
    StickyRouting? Sticky,
    RolloutPlan? Plan);

/// <summary>The optional body of :promote.</summary>
internal sealed record PromoteRequest(int? Version);

/// <summary>A deployment as the API shows it, with this server's metrics of its current window.</summary>
internal sealed record DeploymentResponse(
    string Name,
    string Tenant,
    string Model,
    IReadOnlyList<TrafficShare> Traffic,
    IReadOnlyList<ShadowTarget> Shadow,
    StickyRouting? Sticky,
    RolloutPlan? Plan,
    string State,
    int Stable,
    int? Canary,
    int? Step,
    DateTimeOffset StepStartedAt,
    string? Reason,
    long Revision,
    string CreatedBy,
    DateTimeOffset CreatedAt,
    DateTimeOffset UpdatedAt,
    IReadOnlyList<VersionMetrics> Metrics,
    string Url)
{
    public static DeploymentResponse From(Deployment d, HttpContext context, DeploymentMetrics metrics)
    {
        var versions = d.Traffic.Select(t => t.Version).Concat(d.Shadow.Select(s => s.Version)).Append(d.Stable);
        if (d.Canary is { } canary)
        {
            versions = versions.Append(canary);
        }

        var tenant = context.CallerTenant();
        var name = d.Tenant == tenant ? d.Name : $"{d.Tenant}%2F{d.Name}";
        return new DeploymentResponse(
            d.Name,
            d.Tenant,
            ModelKeys.RelativeTo(d.Model, tenant),
            d.Traffic,
            d.Shadow,
            d.Sticky,
            d.Plan,
            DeploymentRules.StateName(d.State),
            d.Stable,
            d.Canary,
            d.Plan is null ? null : d.Step,
            d.StepStartedAt,
            d.Reason,
            d.Revision,
            d.CreatedBy,
            d.CreatedAt,
            d.UpdatedAt,
            versions.Distinct().Order().Select(v => VersionMetrics.From(metrics.Window(d.Model, d.StepStartedAt, v))).ToArray(),
            $"/api/v1/deployments/{name}");
    }
}

/// <summary>One version's metrics in a deployment's current window, as this server counted them.</summary>
internal sealed record VersionMetrics(
    int Version,
    long Requests,
    long Errors,
    double ErrorRate,
    double P99Ms,
    long Comparisons,
    double ExactMatchRate,
    double MaxAbsError,
    double MaxRelError,
    long Dropped)
{
    public static VersionMetrics From(VersionWindow w) =>
        new(w.Version, w.Requests, w.Errors, w.ErrorRate, w.P99Ms, w.Comparisons, w.ExactMatchRate, Finite(w.MaxAbsError), Finite(w.MaxRelError), w.Dropped);

    // JSON has no infinity: a missing or reshaped output shows as the largest double.
    private static double Finite(double value) => double.IsFinite(value) ? value : double.MaxValue;
}
