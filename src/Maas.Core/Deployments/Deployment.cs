namespace Maas.Core.Deployments;

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
