using System.Text.Json.Serialization;

namespace Maas.Core.Deployments;

/// <summary>Where a deployment stands: taking its split, halted, or ended by a promotion, an abort or a rollback.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<DeploymentState>))]
public enum DeploymentState
{
    /// <summary>Traffic follows the split; a rollout plan advances.</summary>
    [JsonStringEnumMemberName("active")]
    Active,

    /// <summary>Traffic keeps its split; the rollout plan waits for a resume.</summary>
    [JsonStringEnumMemberName("paused")]
    Paused,

    /// <summary>A failed analysis check sent every request back to the stable version.</summary>
    [JsonStringEnumMemberName("rolled-back")]
    RolledBack,

    /// <summary>Stopped by a caller: every request goes to the stable version.</summary>
    [JsonStringEnumMemberName("aborted")]
    Aborted,

    /// <summary>The canary took all traffic and is the stable version now.</summary>
    [JsonStringEnumMemberName("promoted")]
    Promoted,
}

/// <summary>One version's share of a deployment's live traffic, in whole percent.</summary>
public sealed record TrafficShare(int Version, int Percent);

/// <summary>A version that receives a copy of live requests; its answers are compared, never returned.</summary>
public sealed record ShadowTarget(int Version);

/// <summary>Sticky routing: one client keeps seeing one version, keyed by a request header's value or by its API key.</summary>
public sealed record StickyRouting
{
    /// <summary>The request header whose value picks the version (e.g. "X-User-Id").</summary>
    public string? Header { get; init; }

    /// <summary>True to key on the caller's API key (its id, never the secret).</summary>
    public bool Key { get; init; }

    /// <summary>Neither a header nor the key: in a change, turns stickiness off (<c>"sticky": {}</c>).</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public bool IsOff => string.IsNullOrEmpty(Header) && !Key;
}

/// <summary>A rollout: the canary's traffic goes through <see cref="Steps"/>, each held for a dwell time and analysed.</summary>
public sealed record RolloutPlan
{
    /// <summary>The version being rolled out; default: the traffic's version with the smaller share.</summary>
    public int? Canary { get; init; }

    /// <summary>The canary's percent at each step, rising, the last one 100 (e.g. 10, 50, 100).</summary>
    public IReadOnlyList<int> Steps { get; init; } = [];

    /// <summary>How long each step holds before it is judged and the next begins.</summary>
    public double DwellSeconds { get; init; }

    /// <summary>Requests the canary must have answered in a step before its checks count.</summary>
    public int MinRequests { get; init; } = 10;

    /// <summary>The highest share of failed canary requests (0..1).</summary>
    public double? MaxErrorRate { get; init; }

    /// <summary>The highest p99 latency of the canary, in milliseconds.</summary>
    public double? MaxP99Ms { get; init; }

    /// <summary>The largest absolute difference of any output element from the stable version's.</summary>
    public double? MaxAbsError { get; init; }

    /// <summary>The largest relative difference of any output element from the stable version's.</summary>
    public double? MaxRelError { get; init; }

    /// <summary>The lowest share (0..1) of text answers equal to the stable version's.</summary>
    public double? MinExactMatch { get; init; }

    /// <summary>True when any check needs outputs compared with the stable version.</summary>
    [JsonIgnore]
    public bool ComparesOutputs => MaxAbsError is not null || MaxRelError is not null || MinExactMatch is not null;
}

/// <summary>
/// A model's deployment: the split of its live traffic over versions, shadow versions, sticky routing and an optional
/// rollout plan, with its state. Calls naming the model without a version follow it.
/// </summary>
public sealed record Deployment
{
    /// <summary>The tenant that owns the model (and the deployment).</summary>
    public required string Tenant { get; init; }

    /// <summary>The deployment's name, unique in its tenant; defaults to the model's name.</summary>
    public required string Name { get; init; }

    /// <summary>The model's key (<c>name</c> or <c>owner/name</c>): one deployment per model.</summary>
    public required string Model { get; init; }

    /// <summary>The current split: versions and percents summing to 100.</summary>
    public required IReadOnlyList<TrafficShare> Traffic { get; init; }

    /// <summary>Versions that get a copy of live requests.</summary>
    public IReadOnlyList<ShadowTarget> Shadow { get; init; } = [];

    /// <summary>How one client keeps one version; null: each request is drawn on its own.</summary>
    public StickyRouting? Sticky { get; init; }

    /// <summary>The rollout plan; null: the split stays until changed.</summary>
    public RolloutPlan? Plan { get; init; }

    /// <summary>The state.</summary>
    public DeploymentState State { get; init; } = DeploymentState.Active;

    /// <summary>The version that takes all traffic after a rollback or an abort.</summary>
    public required int Stable { get; init; }

    /// <summary>The version a rollout plan moves traffic to (null without a plan).</summary>
    public int? Canary { get; init; }

    /// <summary>The plan's current step (index into <see cref="RolloutPlan.Steps"/>).</summary>
    public int Step { get; init; }

    /// <summary>When the current step (or split) began; metrics and dwell time count from here.</summary>
    public DateTimeOffset StepStartedAt { get; init; }

    /// <summary>Why the deployment last changed state (a failed check's numbers, a caller's action).</summary>
    public string? Reason { get; init; }

    /// <summary>Raised by one on every change; an update must name the revision it read (compare-and-set).</summary>
    public long Revision { get; init; }

    /// <summary>Who created it.</summary>
    public required string CreatedBy { get; init; }

    /// <summary>When it was created.</summary>
    public DateTimeOffset CreatedAt { get; init; }

    /// <summary>When it last changed.</summary>
    public DateTimeOffset UpdatedAt { get; init; }

    /// <summary>The percent of <paramref name="version"/> in the split (0 when absent).</summary>
    public int PercentOf(int version)
    {
        foreach (var share in Traffic)
        {
            if (share.Version == version)
            {
                return share.Percent;
            }
        }

        return 0;
    }
}

/// <summary>One row of a deployment's history: what changed, who did it, why, and the split after it.</summary>
public sealed record DeploymentEvent
{
    /// <summary>The row id (assigned by the database).</summary>
    public long Id { get; init; }

    /// <summary>When.</summary>
    public required DateTimeOffset At { get; init; }

    /// <summary>The key id that acted, or "system" for the analysis loop.</summary>
    public required string Actor { get; init; }

    /// <summary>What happened: create, update, step, promote, pause, resume, abort, rollback.</summary>
    public required string Action { get; init; }

    /// <summary>Why (a failed check's numbers, or empty).</summary>
    public string? Reason { get; init; }

    /// <summary>The state after the change.</summary>
    public DeploymentState State { get; init; }

    /// <summary>The split after the change.</summary>
    public IReadOnlyList<TrafficShare> Traffic { get; init; } = [];

    /// <summary>The deployment's revision after the change.</summary>
    public long Revision { get; init; }
}
