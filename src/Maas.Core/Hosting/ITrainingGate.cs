namespace Maas.Core.Hosting;

/// <summary>
/// What a trainer asks between its batches (or steps) so that training gives way to serving in the same process:
/// it returns at once when training may go on, or blocks for a while (until then, or until cancelled). Engines take
/// it without knowing where the signal comes from (see <see cref="ServingActivity"/>).
/// </summary>
public interface ITrainingGate
{
    /// <summary>
    /// Called after each batch with the time the batch computed; returns when the next batch may start.
    /// </summary>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> fired while waiting.</exception>
    void AfterBatch(TimeSpan computed, CancellationToken cancellationToken);
}
