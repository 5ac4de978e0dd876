using System.Text.Json;
using Maas.Core.Registry;

namespace Maas.Core.Jobs.Queue;

/// <summary>What a handler's job reports through: progress, events, checkpoints; and its cancellation.</summary>
public sealed class JobRun
{
    private static readonly TimeSpan ProgressInterval = TimeSpan.FromMilliseconds(250);
    private readonly JobWorker _worker;
    private readonly CancellationTokenSource _cancellation;
    private DateTimeOffset _lastProgress;
    private volatile bool _cancelledByCaller;
    private volatile bool _lost;
    private (double Start, double End)? _share;

    internal JobRun(JobWorker worker, QueuedJob job, CancellationTokenSource cancellation, string workDir)
    {
        _worker = worker;
        _cancellation = cancellation;
        Job = job;
        CancellationToken = cancellation.Token;
        WorkDir = workDir;
    }

    /// <summary>True once the worker learned that a caller cancelled the job (the job then ends cancelled).</summary>
    internal bool CancelledByCaller => _cancelledByCaller;

    /// <summary>True once the worker learned it no longer holds the job (another worker may take it).</summary>
    internal bool LeaseLost => _lost;

    /// <summary>The job as claimed (its checkpoint, if an earlier worker saved one, is in <see cref="QueuedJob.Checkpoint"/>).</summary>
    public QueuedJob Job { get; }

    /// <summary>Fires when a caller cancels the job, the worker stops, or the lease is lost.</summary>
    public CancellationToken CancellationToken { get; }

    /// <summary>A private scratch folder, deleted when the job ends here.</summary>
    public string WorkDir { get; }

    /// <summary>The worker's name (for lineage and logs).</summary>
    public string WorkerName => _worker.Options.Name;

    /// <summary>The latest progress reported.</summary>
    public JobProgress Progress { get; private set; } = new();

    /// <summary>
    /// Stores progress (at most a few times a second; stage changes and a <paramref name="milestone"/>, such as a search's
    /// trial ending, at once) and extends the lease.
    /// </summary>
    public async Task ReportAsync(JobProgress progress, bool milestone = false)
    {
        if (_share is { } share)
        {
            progress = progress with { Percent = share.Start + ((share.End - share.Start) * Math.Clamp(progress.Percent, 0, 100) / 100) };
        }

        var stageChanged = progress.Stage != Progress.Stage;
        Progress = progress;
        var now = _worker.Time.GetUtcNow();
        if (stageChanged || milestone || now - _lastProgress >= ProgressInterval)
        {
            _lastProgress = now;
            await _worker.RenewAsync(this, progress).ConfigureAwait(false);
            await EventAsync("progress", progress).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Maps the percent of every later report into <paramref name="start"/>..<paramref name="end"/> of the job: for a job
    /// whose last part reports as a whole job of its own (a search's final training), so the job's progress carries on
    /// from where it was rather than starting again.
    /// </summary>
    public void ReportLaterWithin(double start, double end) => _share = (start, end);

    /// <summary>Appends an event (<paramref name="data"/> serialized as JSON).</summary>
    public Task EventAsync(string type, object data) =>
        _worker.Store.AddEventAsync(Job.Id, type, JsonSerializer.Serialize(data, RegistryJson.Options), _worker.Time.GetUtcNow(), CancellationToken.None);

    /// <summary>Saves a checkpoint: a stage name, optionally a file (stored content-addressed) and JSON data.</summary>
    public async Task SaveCheckpointAsync(string stage, string? file, object? data)
    {
        string? key = null;
        if (file is not null)
        {
            key = await HashingCopy.HashFileAsync(file, CancellationToken).ConfigureAwait(false);
            var staged = Path.Combine(WorkDir, $"checkpoint-{Guid.NewGuid():n}");
            File.Copy(file, staged);
            await _worker.Artifacts.CommitAsync(key, staged, bundle: false, CancellationToken).ConfigureAwait(false);
        }

        var checkpoint = new JobCheckpoint(stage, key, data is null ? null : JsonSerializer.Serialize(data, RegistryJson.Options), _worker.Time.GetUtcNow());
        if (!await _worker.Store.SaveCheckpointAsync(Job.Id, WorkerName, checkpoint, CancellationToken.None).ConfigureAwait(false))
        {
            _lost = true;
            throw new OperationCanceledException("the job's lease was lost");
        }

        await EventAsync("checkpoint", new { stage, artifact = key }).ConfigureAwait(false);
    }

    /// <summary>A local copy of the file of the checkpoint this job was taken over with; null when it has none.</summary>
    public async Task<string?> CheckpointFileAsync()
    {
        if (Job.Checkpoint?.ArtifactKey is not { } key)
        {
            return null;
        }

        return await _worker.Artifacts.GetLocalPathAsync(key, null, CancellationToken).ConfigureAwait(false);
    }

    /// <summary>The queue this job lives in (for jobs that enqueue and follow child jobs).</summary>
    public IJobQueueStore Queue => _worker.Store;

    /// <summary>The worker's clock.</summary>
    public TimeProvider Time => _worker.Time;

    /// <summary>
    /// Claims one waiting job of <paramref name="kind"/> and runs it here, inside this job, before returning; false when
    /// none waits or this worker has no handler for the kind. A job that waits for child jobs calls this instead of
    /// idling, so its children run even when its own worker is the only one.
    /// </summary>
    public Task<bool> RunWaitingJobAsync(string kind) => _worker.RunWaitingAsync(kind, CancellationToken);

    /// <summary>
    /// Throws unless this worker still holds the job and nobody asked to cancel it, asking the store now rather than
    /// waiting for the heartbeat (call right before an effect that must happen once, and after a long call that could
    /// not watch <see cref="CancellationToken"/>): a cancel requested on any server meanwhile ends the job cancelled.
    /// </summary>
    public async Task EnsureLeaseAsync()
    {
        CancellationToken.ThrowIfCancellationRequested();
        switch (await _worker.RenewAsync(this, null).ConfigureAwait(false))
        {
            case LeaseState.Lost:
                throw new OperationCanceledException("the job's lease was lost");
            case LeaseState.CancelRequested: // never after BeginFinishingAsync: the store then refuses cancels
                throw new OperationCanceledException("the job was cancelled");
        }

        CancellationToken.ThrowIfCancellationRequested();
    }

    /// <summary>
    /// The job's point of no return: call right before the effects that must happen once and not be undone (registering
    /// its result). A cancel that came first stops the job here (it ends cancelled, having registered nothing); from
    /// here on a cancel is refused, and the job ends as its work does. Throws <see cref="OperationCanceledException"/>
    /// on a cancel or a lost lease. A job that never calls it passes it when its handler returns.
    /// </summary>
    public async Task BeginFinishingAsync()
    {
        // Asked again (or by a worker that took over a job already finishing) it only checks the lease.
        var state = await _worker.Store.BeginFinishingAsync(Job.Id, WorkerName, _worker.Time.GetUtcNow(), CancellationToken.None).ConfigureAwait(false);
        if (state == LeaseState.Held)
        {
            return;
        }

        var byCaller = state == LeaseState.CancelRequested;
        await StopAsync(byCaller).ConfigureAwait(false);
        throw new OperationCanceledException(byCaller ? "the job was cancelled" : "the job's lease was lost");
    }

    // A renewal (or the point of no return) found the job cancelled by a caller, or its lease lost: its token fires.
    internal async Task StopAsync(bool byCaller)
    {
        if (byCaller)
        {
            _cancelledByCaller = true;
        }
        else
        {
            _lost = true;
        }

        try
        {
            await _cancellation.CancelAsync().ConfigureAwait(false);
        }
        catch (ObjectDisposedException)
        {
            // The run has ended.
        }
    }
}
