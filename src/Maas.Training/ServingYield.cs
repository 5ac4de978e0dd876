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

/// <summary>
/// The duty cycle of training while serving is busy: after a batch that computed for t, wait t x (1 - share) / share,
/// so training computes <c>share</c> of the wall time; no wait when serving was idle during the batch.
/// </summary>
public static class ServingDutyCycle
{
    /// <summary>The wait after a batch that computed for <paramref name="computed"/> (zero when serving was not <paramref name="busy"/>, or at share 1).</summary>
    public static TimeSpan Wait(TimeSpan computed, double share, bool busy)
    {
        if (!(share > 0 && share <= 1))
        {
            throw new ArgumentOutOfRangeException(nameof(share), share, "the share must be above 0 and at most 1");
        }

        return !busy || share >= 1 || computed <= TimeSpan.Zero ? TimeSpan.Zero : computed * ((1 - share) / share);
    }
}
