namespace Maas.Core.Jobs;

/// <summary>What <see cref="JobRunner.Cancel"/> did, and the job as it was when it decided (null when it does not run here).</summary>
public sealed record JobCancelResult(JobCancelOutcome Outcome, Job? Job);
