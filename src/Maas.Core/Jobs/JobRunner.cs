using System.Collections.Concurrent;
using System.Security.Cryptography;

namespace Maas.Core.Jobs;

/// <summary>Runs background jobs with a concurrency limit, keeps their live state in memory and persists it.</summary>
public sealed class JobRunner : IAsyncDisposable
{
    private static readonly TimeSpan PersistInterval = TimeSpan.FromMilliseconds(250);

    private readonly IJobStore _store;
    private readonly TimeProvider _time;
    private readonly SemaphoreSlim _slots;
    private readonly CancellationTokenSource _stopping = new();
    private readonly ConcurrentDictionary<string, Running> _running = new(StringComparer.Ordinal);
    private int _disposed;

    /// <summary>Creates a runner that runs at most <paramref name="maxConcurrent"/> jobs at once.</summary>
    public JobRunner(IJobStore store, int maxConcurrent, TimeProvider? time = null)
    {
        _store = store;
        _time = time ?? TimeProvider.System;
        _slots = new SemaphoreSlim(maxConcurrent, maxConcurrent);
    }

    /// <summary>Raised when a job's work throws something that is not a <see cref="JobFailedException"/> (for logging).</summary>
    public event Action<Job, Exception>? Crashed;

    /// <summary>
    /// Marks jobs left unfinished by a process that is gone (its heartbeat older than <paramref name="lapsedBefore"/>,
    /// or no owner recorded) as failed "interrupted"; jobs a live process (this one, or another server on the same
    /// database) runs are left alone. Called at start-up and now and then after.
    /// </summary>
    public Task<int> RecoverAsync(DateTimeOffset lapsedBefore, CancellationToken cancellationToken) => _store.FailUnfinishedJobsAsync(
        new JobError("interrupted", "the server stopped while this job ran; start it again"), _time.GetUtcNow(), lapsedBefore, cancellationToken);

    /// <summary>
    /// Queues <paramref name="work"/> as a new job and returns it at once. The work's returned map becomes the job's
    /// result; a <see cref="JobFailedException"/> fails it with that code; <paramref name="cleanup"/> runs in every case.
    /// </summary>
    public async Task<Job> StartAsync(
        string kind,
        string? model,
        int? version,
        string? tenant,
        string createdBy,
        Func<JobContext, Task<IReadOnlyDictionary<string, object?>>> work,
        Func<ValueTask>? cleanup = null)
    {
        var now = _time.GetUtcNow();
        var job = new Job
        {
            Id = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(12)),
            Kind = kind,
            Status = JobStatus.Queued,
            Model = model,
            Version = version,
            Tenant = tenant,
            CreatedBy = createdBy,
            CreatedAt = now,
            UpdatedAt = now,
        };
        await _store.CreateJobAsync(job, CancellationToken.None).ConfigureAwait(false);
        var running = new Running(job, CancellationTokenSource.CreateLinkedTokenSource(_stopping.Token));
        _running[job.Id] = running;
        _ = Task.Run(() => RunAsync(running, work, cleanup));
        return job;
    }

    /// <summary>A job: its live state while it runs here, else the stored one.</summary>
    public async Task<Job?> GetAsync(string id, CancellationToken cancellationToken)
    {
        return _running.TryGetValue(id, out var running)
            ? running.Live()
            : await _store.GetJobAsync(id, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// The newest jobs (of <paramref name="tenant"/> only, when given; only those older than <paramref name="before"/>
    /// in <see cref="JobPosition"/>'s order, when given), with live state for those running here.
    /// </summary>
    public async Task<IReadOnlyList<Job>> ListAsync(int limit, string? tenant, JobPosition? before, CancellationToken cancellationToken)
    {
        var stored = await _store.ListJobsAsync(limit, tenant, before, cancellationToken).ConfigureAwait(false);
        return stored.Select(j => _running.TryGetValue(j.Id, out var running) ? running.Live() : j).ToArray();
    }

    /// <summary>
    /// Asks a job running here to stop, unless it is past its point of no return (<see cref="JobContext.BeginFinishing"/>),
    /// already ended, or already asked to stop; says which, with the job as it is now. A cancel it records is a promise
    /// the job keeps: the job ends <see cref="JobStatus.Cancelled"/>, whatever its work does meanwhile.
    /// </summary>
    public JobCancelResult Cancel(string id)
    {
        if (!_running.TryGetValue(id, out var running))
        {
            return new JobCancelResult(JobCancelOutcome.NotRunning, null);
        }

        Job job;
        lock (running)
        {
            job = running.Job;
            var refused = job.IsFinished ? JobCancelOutcome.Ended
                : running.Finishing ? JobCancelOutcome.Finishing
                : running.CancelledByCaller ? JobCancelOutcome.AlreadyRequested
                : (JobCancelOutcome?)null;
            if (refused is { } outcome)
            {
                return new JobCancelResult(outcome, job);
            }

            // Under the lock that BeginFinishing and the job's end take too: exactly one of them comes first.
            running.CancelledByCaller = true;
        }

        try
        {
            running.Cancellation.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // The job ended between the lock and here; it ended cancelled, as the flag says.
        }

        return new JobCancelResult(JobCancelOutcome.Requested, job);
    }

    /// <summary>Waits until the job is finished here and its final state stored (tests and shutdown).</summary>
    public Task WaitAsync(string id) => _running.TryGetValue(id, out var running) ? running.Done.Task : Task.CompletedTask;

    // The point of no return of a job: throws when a cancel (or the server's stop) came first, else no cancel is taken from now on.
    internal void BeginFinishing(string id, CancellationToken token)
    {
        if (!_running.TryGetValue(id, out var running))
        {
            return;
        }

        lock (running)
        {
            if (running.CancelledByCaller || token.IsCancellationRequested)
            {
                throw new OperationCanceledException("the job was cancelled", token);
            }

            running.Finishing = true;
        }
    }

    private async Task RunAsync(Running running, Func<JobContext, Task<IReadOnlyDictionary<string, object?>>> work, Func<ValueTask>? cleanup)
    {
        var token = running.Cancellation.Token;
        var acquired = false;
        IReadOnlyDictionary<string, object?>? result = null;
        Exception? error = null;
        try
        {
            try
            {
                await _slots.WaitAsync(token).ConfigureAwait(false);
                acquired = true;
                Update(running.Job.Id, j => j with { Status = JobStatus.Running }, force: true);
                result = await work(new JobContext(this, running.Job.Id, token)).ConfigureAwait(false);
            }
            catch (Exception e)
            {
                error = e;
            }

            // Decided under the job's lock, as Cancel decides: a cancel recorded before the point of no return (or
            // before the work ended, for work that has none) ends the job cancelled whatever the work did meanwhile.
            Finish(running, j =>
                running.CancelledByCaller && !running.Finishing
                    ? j with { Status = JobStatus.Cancelled, Error = new JobError("cancelled", "the job was cancelled") }
                    : error switch
                    {
                        null => j with { Status = JobStatus.Succeeded, Result = result, Stage = null },
                        OperationCanceledException when token.IsCancellationRequested =>
                            j with { Status = JobStatus.Failed, Error = new JobError("interrupted", "the server stopped while this job ran; start it again") },
                        JobFailedException failed => j with { Status = JobStatus.Failed, Error = new JobError(failed.Code, failed.Message) },
                        _ => j with { Status = JobStatus.Failed, Error = new JobError("internal_error", "the job failed on an unexpected error; see the server log") },
                    });
            if (error is not null and not JobFailedException && !(error is OperationCanceledException && token.IsCancellationRequested))
            {
                Crashed?.Invoke(running.Job, error);
            }
        }
        finally
        {
            if (acquired)
            {
                _slots.Release();
            }

            if (cleanup is not null)
            {
                try
                {
                    await cleanup().ConfigureAwait(false);
                }
                catch (Exception e) when (e is not OutOfMemoryException)
                {
                    Crashed?.Invoke(running.Job, e);
                }
            }

            await PersistAsync(running).ConfigureAwait(false);
            _running.TryRemove(running.Job.Id, out _);
            running.Cancellation.Dispose();
            running.Done.TrySetResult();
        }
    }

    private void Finish(Running running, Func<Job, Job> change) =>
        Update(running.Job.Id, j => change(j) with { FinishedAt = _time.GetUtcNow() }, force: false);

    internal void Update(string id, Func<Job, Job> change, bool force)
    {
        if (!_running.TryGetValue(id, out var running))
        {
            return;
        }

        bool persist;
        lock (running)
        {
            var now = _time.GetUtcNow();
            running.Job = change(running.Job) with { UpdatedAt = now };
            persist = force || now - running.LastPersisted >= PersistInterval;
            if (persist)
            {
                running.LastPersisted = now;
            }
        }

        if (persist)
        {
            // Fire and forget: progress must never slow the work; the final state is persisted and awaited in RunAsync.
            _ = PersistAsync(running);
        }
    }

    private async Task PersistAsync(Running running)
    {
        await running.PersistLock.WaitAsync().ConfigureAwait(false);
        try
        {
            Job snapshot;
            lock (running)
            {
                snapshot = running.Job;
            }

            await _store.UpdateJobAsync(snapshot, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            Crashed?.Invoke(running.Job, e);
        }
        finally
        {
            running.PersistLock.Release();
        }
    }

    /// <summary>Cancels every job and waits for them to record how they ended.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return; // Stopped by the host first, then disposed by the container.
        }

        await _stopping.CancelAsync().ConfigureAwait(false);
        var tasks = _running.Values.Select(r => r.Done.Task).ToArray();
        try
        {
            await Task.WhenAll(tasks).WaitAsync(TimeSpan.FromSeconds(10)).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            // Stragglers are marked interrupted by the next start-up.
        }

        _stopping.Dispose();
    }

    private sealed class Running(Job job, CancellationTokenSource cancellation)
    {
        public Job Job { get; set; } = job;

        public CancellationTokenSource Cancellation { get; } = cancellation;

        // Set once the job's work has ended and its final state is stored (WaitAsync; Task is set only after the job starts).
        public TaskCompletionSource Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        // Both changed only under the lock on this object (Cancel, BeginFinishing), and read there by the job's end.
        public bool CancelledByCaller { get; set; }

        public bool Finishing { get; set; }

        public DateTimeOffset LastPersisted { get; set; }

        // The job as callers see it now, with its cancel and point-of-no-return flags.
        public Job Live()
        {
            lock (this)
            {
                return Job with { CancelRequested = CancelledByCaller && !Job.IsFinished, Finishing = Finishing && !Job.IsFinished };
            }
        }

        public SemaphoreSlim PersistLock { get; } = new(1, 1);
    }
}
