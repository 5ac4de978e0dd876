namespace Maas.Core.Training;

/// <summary>What an evaluation job does (a registered version scored on a labelled dataset), as checked and resolved at submission.</summary>
public sealed record EvaluationSpec
{
    /// <summary>The job kind that runs evaluation specs.</summary>
    public const string Kind = "evaluation";

    /// <summary>The model (by key) whose version is evaluated.</summary>
    public required string Model { get; init; }

    /// <summary>The version evaluated.</summary>
    public required int Version { get; init; }

    /// <summary>The dataset version scored (resolved at submission).</summary>
    public required DatasetReference Dataset { get; init; }

    /// <summary>The column holding the true answers.</summary>
    public required string Label { get; init; }

    /// <summary>At most this many labelled rows are scored (the first ones); null: all.</summary>
    public int? Limit { get; init; }

    /// <summary>Who submitted it.</summary>
    public required string CreatedBy { get; init; }
}
