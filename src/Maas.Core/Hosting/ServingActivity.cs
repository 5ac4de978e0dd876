namespace Maas.Core.Hosting;

/// <summary>
/// How busy serving is in this process, for work that should give way to it (in-process training): the leases on
/// loaded models taken since start and those out now. Reading it is two atomic loads; the model host updates it
/// as requests take and give back their models. Workers in other processes do not see it.
/// </summary>
public sealed class ServingActivity
{
    private long _taken;
    private int _inFlight;

    /// <summary>Leases taken since start (every served request takes one, even one that gives it back at once).</summary>
    public long Taken => Interlocked.Read(ref _taken);

    /// <summary>Leases out now (requests holding a model).</summary>
    public int InFlight => Volatile.Read(ref _inFlight);

    /// <summary>Both numbers (not read atomically together; a reader compares <see cref="Taken"/> between two reads).</summary>
    public ServingActivitySnapshot Read() => new(Taken, InFlight);

    /// <summary>A request took a model (the model host calls this; so may a server path that serves without it).</summary>
    public void Started()
    {
        Interlocked.Increment(ref _taken);
        Interlocked.Increment(ref _inFlight);
    }

    /// <summary>A request gave its model back (once per <see cref="Started"/>).</summary>
    public void Ended() => Interlocked.Decrement(ref _inFlight);
}
