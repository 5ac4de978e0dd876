using Maas.Core.Hosting;

namespace Maas.Training;

/// <summary>How in-process training gives way to serving: the process's serving signal and the share of time training may compute while serving is busy.</summary>
/// <param name="Activity">The serving signal of this process's model host.</param>
/// <param name="Share">Share of wall time training computes while serving is busy (0 &lt; x &lt;= 1; 1: no yielding).</param>
/// <param name="Time">The clock the waits run on (the system's when null).</param>
public sealed record ServingYield(ServingActivity Activity, double Share, TimeProvider? Time = null)
{
    /// <summary>A gate for one job (it keeps that job's state), or null when training does not yield (share 1).</summary>
    public ServingYieldGate? NewGate() => Share >= 1 ? null : new ServingYieldGate(Activity, Share, Time);
}
