using System.Text.Json;
using Maas.Core.Hosting;
using Maas.Core.Registry;

namespace Maas.Core.Jobs.Queue;

/// <summary>
/// Claims jobs from the store with a lease, runs each on a dedicated thread through its kind's handler, renews the
/// lease while it runs (a dead worker's job is claimed again once its lease expires) and records how it ended.
/// The same class runs in the server and in a separate worker process against the same database and artifact store.
/// </summary>
public sealed class JobWorker
{
    private readonly IReadOnlyDictionary<string, IJobHandler> _handlers;
    private readonly string _scratch;
    private readonly SemaphoreSlim _nudge = new(0, int.MaxValue);

    // The job this worker runs and the semaphore that wakes its heartbeat early (a cancel requested in this process);
    // a reference, so the store's event reads it whole from another thread.
    private volatile RunningJob? _running;

    /// <summary>Creates a worker for <paramref name="handlers"/> with scratch folders under <paramref name="scratch"/>.</summary>
    public JobWorker(IJobQueueStore store, IArtifactStore artifacts, IEnumerable<IJobHandler> handlers, string scratch, JobWorkerOptions? options = null, TimeProvider? time = null)
    {
        Store = store;
        Artifacts = artifacts;
        _handlers = handlers.ToDictionary(h => h.Kind, StringComparer.Ordinal);
        _scratch = scratch;
        Options = options ?? new JobWorkerOptions();
        Time = time ?? TimeProvider.System;
        store.CancelRequested += BeatNowIfRunning;
    }

    /// <summary>Raised when a job's handler throws something unexpected, or bookkeeping fails (for logging).</summary>
    public event Action<string, Exception>? Crashed;

    /// <summary>The worker's settings.</summary>
    public JobWorkerOptions Options { get; }

    internal IJobQueueStore Store { get; }

    internal IArtifactStore Artifacts { get; }

    internal TimeProvider Time { get; }

    /// <summary>Wakes an idle worker at once (a job was just queued in this process).</summary>
    public void Nudge() => _nudge.Release();

    // A cancel asked for in this process: the job's heartbeat reads it now rather than at its next beat.
    private void BeatNowIfRunning(string id)
    {
        if (_running is { } running && running.Id == id)
        {
            running.Beat.Release();
        }
    }

    /// <summary>Claims and runs jobs until <paramref name="stopping"/> fires; a running job is then left to its lease.</summary>
    public async Task RunAsync(CancellationToken stopping)
    {
        var kinds = _handlers.Keys.ToArray();
        while (!stopping.IsCancellationRequested)
        {
            QueuedJob? job = null;
            try
            {
                var now = Time.GetUtcNow();
                job = await Store.ClaimAsync(kinds, Options.Name, now + Options.Lease, now, stopping).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (stopping.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                Crashed?.Invoke("claim", e);
            }

            if (job is null)
            {
                try
                {
                    await _nudge.WaitAsync(Options.Poll, stopping).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return;
                }

                continue;
            }

            await RunJobAsync(job, stopping).ConfigureAwait(false);
        }
    }

    /// <summary>Claims one job and runs it to its end here; false when none was waiting (tests, one-shot workers).</summary>
    public async Task<bool> RunOnceAsync(CancellationToken stopping)
    {
        var now = Time.GetUtcNow();
        var job = await Store.ClaimAsync(_handlers.Keys.ToArray(), Options.Name, now + Options.Lease, now, stopping).ConfigureAwait(false);
        if (job is null)
        {
            return false;
        }

        await RunJobAsync(job, stopping).ConfigureAwait(false);
        return true;
    }

    internal async Task<bool> RunWaitingAsync(string kind, CancellationToken cancellationToken)
    {
        if (!_handlers.ContainsKey(kind))
        {
            return false;
        }

        var now = Time.GetUtcNow();
        var job = await Store.ClaimAsync([kind], Options.Name, now + Options.Lease, now, cancellationToken).ConfigureAwait(false);
        if (job is null)
        {
            return false;
        }

        await RunJobAsync(job, cancellationToken).ConfigureAwait(false);
        return true;
    }

    private async Task RunJobAsync(QueuedJob job, CancellationToken stopping)
    {
        if (job.Attempts > Options.MaxAttempts)
        {
            await FailWorkerLostAsync(job).ConfigureAwait(false);
            return;
        }

        var handler = _handlers[job.Kind];
        using var cancellation = CancellationTokenSource.CreateLinkedTokenSource(stopping);
        var workDir = Path.Combine(_scratch, job.Id + "-" + Guid.NewGuid().ToString("n")[..8]);
        Directory.CreateDirectory(workDir);
        var run = new JobRun(this, job, cancellation, workDir);
        await AddEventQuietlyAsync(job.Id, "status", new
        {
            status = "running",
            worker = Options.Name,
            attempt = job.Attempts,
            resumed_from = job.Checkpoint?.Stage,
        }).ConfigureAwait(false);

        // The heartbeat keeps the lease and notices a cancel request or a lost lease; a cancel requested in this process
        // wakes it early.
        using var heartbeatStop = new CancellationTokenSource();
        var beat = new SemaphoreSlim(0, int.MaxValue); // not disposed: a late release from the store's event stays harmless
        _running = new RunningJob(job.Id, beat);
        var heartbeat = Task.Run(() => HeartbeatAsync(run, beat, heartbeatStop.Token));

        JobEnd end;
        try
        {
            end = await RunHandlerAsync(handler, run, cancellation, stopping).ConfigureAwait(false);
        }
        finally
        {
            _running = null;
            await heartbeatStop.CancelAsync().ConfigureAwait(false);
            await heartbeat.ConfigureAwait(false);
            StagingArea.DeleteQuietly(workDir);
        }

        // Stopped with the worker (not by a caller): leave the job to its lease, so another worker takes it up.
        if (run.LeaseLost || (stopping.IsCancellationRequested && end.Status != JobStatus.Succeeded && !run.CancelledByCaller))
        {
            return;
        }

        await RecordEndAsync(run, end).ConfigureAwait(false);
    }

    // How a job ended: its status, and its result (succeeded) or error (failed, cancelled).
    private readonly record struct JobEnd(JobStatus Status, string? Result, JobError? Error);

    // A job claimed more times than Options.MaxAttempts: its workers kept dying, so it fails instead of running again.
    private async Task FailWorkerLostAsync(QueuedJob job)
    {
        var error = new JobError("worker_lost", $"the job's worker stopped {job.Attempts - 1} times before it finished (at most {Options.MaxAttempts} attempts)");
        if (await Store.CompleteAsync(job.Id, Options.Name, JobStatus.Failed, null, error, null, Time.GetUtcNow(), CancellationToken.None).ConfigureAwait(false))
        {
            await AddEventQuietlyAsync(job.Id, "status", new { status = "failed", reason = "worker_lost" }).ConfigureAwait(false);
            await DeleteCheckpointFilesAsync(job.Id, job.Checkpoint?.ArtifactKey).ConfigureAwait(false);
        }
    }

    // Renews the lease every third of it (or at once when `beat` is released) until `stop` fires; a cancel request or
    // a lost lease cancels the run.
    private async Task HeartbeatAsync(JobRun run, SemaphoreSlim beat, CancellationToken stop)
    {
        var interval = Options.Lease / 3;
        while (!stop.IsCancellationRequested)
        {
            try
            {
                await beat.WaitAsync(interval, stop).ConfigureAwait(false);
                await RenewAsync(run, null).ConfigureAwait(false); // a cancel request or a lost lease cancels the run
            }
            catch (OperationCanceledException)
            {
                return;
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                Crashed?.Invoke(run.Job.Id, e); // A database hiccup: the next beat tries again before the lease runs out.
            }
        }
    }

    // Runs the handler on its own thread and says how the job ended; never throws.
    private async Task<JobEnd> RunHandlerAsync(IJobHandler handler, JobRun run, CancellationTokenSource cancellation, CancellationToken stopping)
    {
        try
        {
            // On shutdown the worker stops waiting; the job's token is cancelled and its lease lets another worker take it.
            var returned = await RunOnDedicatedThread(handler, run).WaitAsync(stopping).ConfigureAwait(false);

            // A job that declared no point of no return passes it now: a cancel recorded before this (after the job's
            // last look at its token) wins and the job ends cancelled; one after it is refused, so the job that ends
            // succeeded is one whose cancel was never accepted.
            await run.BeginFinishingAsync().ConfigureAwait(false);
            return new JobEnd(JobStatus.Succeeded, returned, null);
        }
        catch (OperationCanceledException) when (cancellation.IsCancellationRequested || run.CancelledByCaller || run.LeaseLost)
        {
            return run.CancelledByCaller
                ? new JobEnd(JobStatus.Cancelled, null, new JobError("cancelled", "the job was cancelled"))
                : new JobEnd(JobStatus.Failed, null, new JobError("interrupted", "the worker stopped while this job ran"));
        }
        catch (JobFailedException e)
        {
            return new JobEnd(JobStatus.Failed, null, new JobError(e.Code, e.Message));
        }
        catch (RegistryException e) when (e.Kind != RegistryErrorKind.Unavailable)
        {
            // The registry refused the job's result (the tenant's storage quota, the model deleted meanwhile, ...): a
            // fact the caller can act on, with its code and message, not an unexpected error.
            return new JobEnd(JobStatus.Failed, null, new JobError(e.Code, e.Message));
        }
        catch (Exception e)
        {
            Crashed?.Invoke(run.Job.Id, e);
            return new JobEnd(JobStatus.Failed, null, new JobError("internal_error", "the job failed on an unexpected error; see the worker's log"));
        }
    }

    // Stores how the job ended (unless another worker holds it now), its last "status" event, and deletes its checkpoints.
    private async Task RecordEndAsync(JobRun run, JobEnd end)
    {
        var id = run.Job.Id;
        try
        {
            // A success shows 100% with what the job last reported (its epoch, metrics), stored or not yet; other ends keep
            // the progress where the job stopped.
            var progress = end.Status == JobStatus.Succeeded ? run.Progress with { Percent = 100, Stage = "done", EtaSeconds = null } : null;
            if (await Store.CompleteAsync(id, Options.Name, end.Status, end.Result, end.Error, progress, Time.GetUtcNow(), CancellationToken.None).ConfigureAwait(false))
            {
                await AddEventQuietlyAsync(id, "status", new { status = end.Status.ToString().ToLowerInvariant(), error = end.Error }).ConfigureAwait(false);
                await DeleteCheckpointFilesAsync(id, run.Job.Checkpoint?.ArtifactKey).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            Crashed?.Invoke(id, e);
        }
    }

    // An ended job (succeeded, failed or cancelled) is never resumed, so none of the files it saved as checkpoints is
    // needed any more; one the registry now holds (a version registered from a checkpoint unchanged shares its
    // content-addressed file) or another job still points at stays.
    private async Task DeleteCheckpointFilesAsync(string id, string? claimedWith)
    {
        try
        {
            foreach (var key in await CheckpointFilesAsync(id, claimedWith).ConfigureAwait(false))
            {
                if (!await Store.IsArtifactReferencedAsync(key, CancellationToken.None).ConfigureAwait(false))
                {
                    await Artifacts.DeleteAsync(key, CancellationToken.None).ConfigureAwait(false);
                }
            }
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            Crashed?.Invoke(id, e); // The files stay until the next start-up's sweep of unreferenced files.
        }
    }

    // Every file the job saved as a checkpoint, from its checkpoint events (and the one it was claimed with).
    private async Task<HashSet<string>> CheckpointFilesAsync(string id, string? claimedWith)
    {
        var keys = new HashSet<string>(StringComparer.Ordinal);
        if (claimedWith is not null)
        {
            keys.Add(claimedWith);
        }

        for (long after = 0; ;)
        {
            var page = await Store.ListEventsAsync(id, after, 1000, CancellationToken.None).ConfigureAwait(false);
            foreach (var e in page.Where(e => e.Type == "checkpoint"))
            {
                using var data = JsonDocument.Parse(e.Data);
                if (data.RootElement.TryGetProperty("artifact", out var artifact) && artifact.GetString() is { } key)
                {
                    keys.Add(key);
                }
            }

            if (page.Count < 1000)
            {
                return keys;
            }

            after = page[^1].Seq;
        }
    }

    // Training is CPU-bound and synchronous inside: it gets a thread of its own, never one from the request pool.
    private static Task<string> RunOnDedicatedThread(IJobHandler handler, JobRun run) =>
        DedicatedThread.Run($"maas-job-{run.Job.Kind}", () => handler.RunAsync(run).GetAwaiter().GetResult());

    // Every renewal (the heartbeat's, a progress report's, the check before an effect) acts on what the store says: a
    // cancel request (made on any server) or a lost lease cancels the run, so a handler's next check stops it.
    internal async Task<LeaseState> RenewAsync(JobRun run, JobProgress? progress)
    {
        var now = Time.GetUtcNow();
        var state = await Store.RenewAsync(run.Job.Id, Options.Name, now + Options.Lease, progress, now, CancellationToken.None).ConfigureAwait(false);
        if (state != LeaseState.Held)
        {
            await run.StopAsync(byCaller: state == LeaseState.CancelRequested).ConfigureAwait(false);
        }

        return state;
    }

    private async Task AddEventQuietlyAsync(string id, string type, object data)
    {
        try
        {
            await Store.AddEventAsync(id, type, JsonSerializer.Serialize(data, RegistryJson.Options), Time.GetUtcNow(), CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            Crashed?.Invoke(id, e);
        }
    }
}
