namespace Maas.Core.Jobs.Queue;

/// <summary>Runs the jobs of one kind; registered with a <see cref="JobWorker"/>.</summary>
public interface IJobHandler
{
    /// <summary>The kind of job it runs.</summary>
    string Kind { get; }

    /// <summary>Does the job and returns its result as JSON; throws <see cref="JobFailedException"/> to fail with a code.</summary>
    /// <remarks>
    /// Called on a dedicated thread, never a request thread; <see cref="JobRun.CancellationToken"/> fires on cancel or a
    /// lost lease. A handler that registers its result calls <see cref="JobRun.BeginFinishingAsync"/> right before it, so
    /// a cancel either stops the job before anything is registered or is refused; one that calls it nowhere passes it
    /// when it returns.
    /// </remarks>
    Task<string> RunAsync(JobRun run);
}
