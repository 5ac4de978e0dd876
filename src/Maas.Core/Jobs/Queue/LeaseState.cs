namespace Maas.Core.Jobs.Queue;

/// <summary>What a worker's heartbeat learned about its lease.</summary>
public enum LeaseState
{
    /// <summary>Still ours.</summary>
    Held,

    /// <summary>Still ours, and a caller asked the job to stop.</summary>
    CancelRequested,

    /// <summary>Gone: it expired and another worker took the job, or the job ended.</summary>
    Lost,
}
