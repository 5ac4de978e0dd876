namespace Maas.Core.Hosting;

/// <summary>One reading of <see cref="ServingActivity"/>.</summary>
/// <param name="Taken">Leases taken since start.</param>
/// <param name="InFlight">Leases out at the time of reading.</param>
public readonly record struct ServingActivitySnapshot(long Taken, int InFlight)
{
    /// <summary>True when serving ran between <paramref name="earlier"/> and this reading (a lease was taken, or one is out now or was then).</summary>
    public bool BusySince(ServingActivitySnapshot earlier) => Taken != earlier.Taken || InFlight > 0 || earlier.InFlight > 0;
}
