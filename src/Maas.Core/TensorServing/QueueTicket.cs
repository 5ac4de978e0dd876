namespace Maas.Core.TensorServing;

/// <summary>A place in a model version's queue, held from admission (<see cref="ModelScheduler.Admit"/>) until the request is queued.</summary>
public sealed class QueueTicket : IDisposable
{
    internal QueueTicket(ModelScheduler scheduler, long at)
    {
        Scheduler = scheduler;
        At = at;
    }

    /// <summary>The scheduler that admitted the request.</summary>
    public ModelScheduler Scheduler { get; }

    // When the place was taken (Stopwatch ticks): it is held for ModelScheduler.ReservationHold at most, and the
    // request's queue time budget starts here (the caller has been waiting since its headers arrived).
    internal long At { get; }

    // Set while the place is held; cleared under the scheduler's lock when it is used, released or expires.
    internal LinkedListNode<QueueTicket>? Node { get; set; }

    /// <summary>Gives the place back when the request never reached the queue (nothing once it did).</summary>
    public void Dispose() => Scheduler.Release(this);
}
