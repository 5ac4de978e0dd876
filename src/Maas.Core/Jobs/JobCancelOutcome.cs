namespace Maas.Core.Jobs;

/// <summary>What <see cref="JobRunner.Cancel"/> did.</summary>
public enum JobCancelOutcome
{
    /// <summary>The job does not run here (it ended and was stored, or never ran here).</summary>
    NotRunning,

    /// <summary>The cancel was recorded: the job ends cancelled.</summary>
    Requested,

    /// <summary>An earlier cancel was recorded already; this one changed nothing.</summary>
    AlreadyRequested,

    /// <summary>The job is past its point of no return (registering its result): too late to cancel.</summary>
    Finishing,

    /// <summary>The job already ended.</summary>
    Ended,
}
