using System.Text.Json.Serialization;

namespace Maas.Core.Deployments;

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
