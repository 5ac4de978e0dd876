using Maas.Core.Jobs.Queue;
using Maas.Core.Training;

namespace Maas.Server.Jobs;

/// <summary>
/// Orders one tenant's submissions through this server, so that a submission refused for the per-tenant job limit
/// (Maas:Training:MaxUnfinishedJobsPerTenant) is refused before it changes anything, even when many arrive at once: each
/// checks its room and enqueues while it holds its tenant's turn, so the check sees every job the ones before it queued.
/// Without it, submissions sent together all passed the check, and those the enqueue then refused had created the new
/// models they named (training creates its model before it enqueues). The limit itself does not rest on this gate: the
/// store counts and inserts in one step (<see cref="Maas.Core.Jobs.Queue.IJobQueueStore.TryEnqueueAsync"/>), which holds
/// it across servers on one database too; only submissions through another server at the same instant may still get
/// past this check and be refused at the enqueue, after their model was created (training then removes that model
/// again while it is empty, see TrainingEndpoints.RemoveCreatedModelAsync).
/// </summary>
internal sealed class JobSubmissionGate
{
    // Tenants share a fixed set of turns by hash: two tenants on one turn only wait for each other's submission, briefly.
    private readonly SemaphoreSlim[] turns = [.. Enumerable.Range(0, 64).Select(_ => new SemaphoreSlim(1, 1))];

    /// <summary>
    /// Waits for <paramref name="tenant"/>'s turn, then checks its room (429 too_many_jobs, see
    /// <see cref="JobSubmission.CheckRoomAsync"/>); the turn is held until the returned handle is disposed, which the
    /// caller does once its job is enqueued with <see cref="JobSubmission.EnqueueAsync(IJobQueueStore, TrainingOptions, QueuedJob, string, string, CancellationToken)"/>
    /// (or its submission failed).
    /// </summary>
    public async Task<IDisposable> EnterAsync(IJobQueueStore jobs, TrainingOptions options, string tenant, CancellationToken cancellationToken)
    {
        var turn = turns[(int)((uint)StringComparer.Ordinal.GetHashCode(tenant) % (uint)turns.Length)];
        await turn.WaitAsync(cancellationToken);
        var held = new Turn(turn);
        try
        {
            await JobSubmission.CheckRoomAsync(jobs, options, tenant, cancellationToken);
            return held;
        }
        catch
        {
            held.Dispose();
            throw;
        }
    }

    private sealed class Turn(SemaphoreSlim turn) : IDisposable
    {
        private int released;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref released, 1) == 0)
            {
                turn.Release();
            }
        }
    }
}
