namespace Maas.Core.Jobs;

/// <summary>What a job's work reports back through: progress, stage, and its cancellation.</summary>
public sealed class JobContext
{
    private readonly JobRunner _runner;
    private readonly string _id;

    internal JobContext(JobRunner runner, string id, CancellationToken cancellationToken)
    {
        _runner = runner;
        _id = id;
        CancellationToken = cancellationToken;
    }

    /// <summary>Cancelled when a caller cancels the job or the server stops.</summary>
    public CancellationToken CancellationToken { get; }

    /// <summary>Reports bytes done and, when known, the total; persisted a few times a second at most.</summary>
    public void ReportProgress(long bytesDone, long? bytesTotal) =>
        _runner.Update(_id, j => j with { BytesDone = bytesDone, BytesTotal = bytesTotal ?? j.BytesTotal }, force: false);

    /// <summary>
    /// The job's point of no return: call right before the effect that must happen once and not be undone (committing
    /// its result). A cancel recorded before it stops the job here with <see cref="OperationCanceledException"/> (it ends
    /// cancelled); from here on <see cref="JobRunner.Cancel"/> refuses, and the job ends as its work does.
    /// </summary>
    public void BeginFinishing() => _runner.BeginFinishing(_id, CancellationToken);

    /// <summary>Says what the job is doing now.</summary>
    public void ReportStage(string stage) => _runner.Update(_id, j => j with { Stage = stage }, force: true);
}
