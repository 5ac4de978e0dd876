namespace Maas.Core.Deployments;

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
