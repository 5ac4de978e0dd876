using System.Text.Json;
using System.Text.Json.Serialization;

namespace Maas.Client.Deployments;

/// <summary>One version's share of a deployment's live traffic, in percent.</summary>
public sealed record TrafficShareInfo(int Version, int Percent);

/// <summary>A version that gets a copy of live requests (its answers are compared, never returned).</summary>
public sealed record ShadowTargetInfo(int Version);

/// <summary>Sticky routing: by a request header's value, or by the caller's API key.</summary>
public sealed record StickyRoutingInfo
{
    public string? Header { get; init; }

    public bool? Key { get; init; }
}

/// <summary>One version's metrics in a deployment's current window, as the answering server counted them.</summary>
public sealed record DeploymentVersionMetrics
{
    public int Version { get; init; }

    public long Requests { get; init; }

    public long Errors { get; init; }

    public double ErrorRate { get; init; }

    public double P99Ms { get; init; }

    public long Comparisons { get; init; }

    public double ExactMatchRate { get; init; }

    public double MaxAbsError { get; init; }

    public double MaxRelError { get; init; }

    public long Dropped { get; init; }
}

/// <summary>A deployment as the server returns it: its split, shadows, stickiness, plan, state and metrics.</summary>
public sealed record DeploymentInfo
{
    public required string Name { get; init; }

    public string? Tenant { get; init; }

    public required string Model { get; init; }

    public IReadOnlyList<TrafficShareInfo> Traffic { get; init; } = [];

    public IReadOnlyList<ShadowTargetInfo>? Shadow { get; init; }

    public StickyRoutingInfo? Sticky { get; init; }

    /// <summary>The rollout plan as the server holds it (its fields are listed in docs/api.md).</summary>
    public JsonElement? Plan { get; init; }

    public required string State { get; init; }

    public int Stable { get; init; }

    public int? Canary { get; init; }

    public int? Step { get; init; }

    public DateTimeOffset? StepStartedAt { get; init; }

    public string? Reason { get; init; }

    public long Revision { get; init; }

    public string? CreatedBy { get; init; }

    public DateTimeOffset? CreatedAt { get; init; }

    public DateTimeOffset? UpdatedAt { get; init; }

    public IReadOnlyList<DeploymentVersionMetrics>? Metrics { get; init; }

    public string? Url { get; init; }

    /// <summary>Fields this client does not know.</summary>
    [JsonExtensionData]
    public Dictionary<string, JsonElement>? Extra { get; init; }
}

/// <summary>The deployments a key may see.</summary>
public sealed record DeploymentList(IReadOnlyList<DeploymentInfo> Deployments);

/// <summary>What to deploy: the model, its split, and optionally shadows, stickiness and a rollout plan.</summary>
public sealed record NewDeployment(string Model, IReadOnlyList<TrafficShareInfo> Traffic)
{
    /// <summary>The deployment's name (default: the model's).</summary>
    public string? Name { get; init; }

    public IReadOnlyList<ShadowTargetInfo>? Shadow { get; init; }

    public StickyRoutingInfo? Sticky { get; init; }

    /// <summary>A rollout plan, sent as it is.</summary>
    public JsonElement? Plan { get; init; }
}

/// <summary>A change of a deployment: each field given replaces its value (a new split without a plan ends a running rollout).</summary>
public sealed record DeploymentUpdate
{
    /// <summary>The new split, summing to 100.</summary>
    public IReadOnlyList<TrafficShareInfo>? Traffic { get; init; }

    /// <summary>The new shadow versions (empty: none).</summary>
    public IReadOnlyList<ShadowTargetInfo>? Shadow { get; init; }

    /// <summary>The new sticky routing.</summary>
    public StickyRoutingInfo? Sticky { get; init; }

    /// <summary>A new rollout plan, sent as it is.</summary>
    public JsonElement? Plan { get; init; }
}

/// <summary>One change of a deployment: who did what, and the split and state it left.</summary>
public sealed record DeploymentEvent
{
    public DateTimeOffset At { get; init; }

    public string? Actor { get; init; }

    public required string Action { get; init; }

    public string? Reason { get; init; }

    public string? State { get; init; }

    public IReadOnlyList<TrafficShareInfo> Traffic { get; init; } = [];

    public long Revision { get; init; }
}

/// <summary>A deployment's changes, newest first.</summary>
public sealed record DeploymentHistory(string Name, IReadOnlyList<DeploymentEvent> History);
