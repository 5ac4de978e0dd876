using Maas.Core.Hosting;

namespace Maas.Core.TensorServing;

/// <summary>A request admitted to a version's queue, holding the version loaded until disposed (<see cref="ModelManager.AdmitAsync"/>).</summary>
public sealed class QueueAdmission : IDisposable
{
    private readonly ModelLease _lease;

    internal QueueAdmission(ModelLease lease, QueueTicket ticket)
    {
        _lease = lease;
        Ticket = ticket;
    }

    /// <summary>The place in the queue, to pass to <see cref="ModelScheduler.InferAsync(InferenceRequest, QueueTicket, CancellationToken)"/>.</summary>
    public QueueTicket Ticket { get; }

    /// <summary>The version's scheduler.</summary>
    public ModelScheduler Scheduler => Ticket.Scheduler;

    /// <summary>Gives back an unused place and lets the version go.</summary>
    public void Dispose()
    {
        Ticket.Dispose();
        _lease.Dispose();
    }
}
