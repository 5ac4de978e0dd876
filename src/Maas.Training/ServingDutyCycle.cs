namespace Maas.Training;

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
