namespace Maas.Core.Jobs.Queue;

/// <summary>How far a job is: percent, stage, epoch or iteration, the latest metrics and the estimated time left.</summary>
public sealed record JobProgress
{
    /// <summary>Percent done, 0-100.</summary>
    public double Percent { get; init; }

    /// <summary>What it is doing now ("loading", "training", "evaluating", ...).</summary>
    public string? Stage { get; init; }

    /// <summary>The epoch, for trainers that have them.</summary>
    public int? Epoch { get; init; }

    /// <summary>The iteration (trees, passes, steps), for trainers that report them.</summary>
    public long? Iteration { get; init; }

    /// <summary>The latest metrics (snake_case names).</summary>
    public IReadOnlyDictionary<string, double>? Metrics { get; init; }

    /// <summary>Estimated seconds left.</summary>
    public double? EtaSeconds { get; init; }
}
