using Maas.Core.Jobs.Queue;
using Maas.Core.Training;

namespace Maas.Server.Jobs;

/// <summary>
/// Makes the per-tenant job limit (Maas:Training:MaxUnfinishedJobsPerTenant) hold for submissions that arrive at once:
/// a submission counts the tenant's unfinished jobs and enqueues its own while it holds its tenant's turn, so two
/// submissions of one tenant never both count the same last free place (they did, and a tenant could pass the limit
/// by sending many at once). One per server: submissions through other servers on the same database are not ordered by it.
/// </summary>
internal sealed class JobSubmissionGate
{
    // Tenants share a fixed set of turns by hash: two tenants on one turn only wait for each other's submission, briefly.
    private readonly SemaphoreSlim[] turns = [.. Enumerable.Range(0, 64).Select(_ => new SemaphoreSlim(1, 1))];

    /// <summary>
    /// Waits for <paramref name="tenant"/>'s turn, then checks its room (429 too_many_jobs, see
    /// <see cref="JobSubmission.CheckRoomAsync"/>); the turn is held until the returned handle is disposed, which the
    /// caller does once its job is enqueued (or its submission failed).
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
