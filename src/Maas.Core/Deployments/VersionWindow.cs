namespace Maas.Core.Deployments;

/// <summary>What one version did in one window of a deployment (since its current step began), as seen by this server.</summary>
public sealed record VersionWindow
{
    /// <summary>The version.</summary>
    public required int Version { get; init; }

    /// <summary>Live requests it answered (or a shadow's copies it ran).</summary>
    public long Requests { get; init; }

    /// <summary>Of those, the failed ones (server-side errors).</summary>
    public long Errors { get; init; }

    /// <summary>The 99th percentile latency in milliseconds (0 without requests).</summary>
    public double P99Ms { get; init; }

    /// <summary>Answers compared with the reference version's.</summary>
    public long Comparisons { get; init; }

    /// <summary>Of those, the identical ones.</summary>
    public long ExactMatches { get; init; }

    /// <summary>The largest absolute output difference seen.</summary>
    public double MaxAbsError { get; init; }

    /// <summary>The largest relative output difference seen.</summary>
    public double MaxRelError { get; init; }

    /// <summary>Copies dropped because the shadow queue was full.</summary>
    public long Dropped { get; init; }

    /// <summary>Errors / requests (0 without requests).</summary>
    public double ErrorRate => Requests == 0 ? 0 : (double)Errors / Requests;

    /// <summary>Exact matches / comparisons (1 without comparisons).</summary>
    public double ExactMatchRate => Comparisons == 0 ? 1 : (double)ExactMatches / Comparisons;
}
