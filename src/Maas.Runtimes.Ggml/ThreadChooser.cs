namespace Maas.Runtimes.Ggml;

/// <summary>
/// Picks how many of the allowed threads ggml computes the next training step with, by timing one against all of
/// them now and then. ggml's CPU threads meet at a spinning barrier after every graph node, so for a small network
/// on a machine busy with other work a descheduled thread keeps the others spinning and one thread is many times
/// faster than two; on an idle machine, or for a large network, more threads win. With the batch in two halves
/// (GgmlTrainingOptions.DataParallel) one thread computes the halves one after the other, more both at once. The
/// number changes only the speed: ggml computes each weight's update on one thread whatever the count, and the halves'
/// gradients are summed in the same order.
/// </summary>
internal sealed class ThreadChooser
{
    // Steps per candidate in each probe (interleaved, so a burst of other work falls on both), and steps on the
    // winner before the next probe (the machine's load changes while a job runs).
    private const int ProbeSteps = 3;
    private const int KeepSteps = 200;

    private readonly int[] candidates;
    private readonly List<double>[] samples;
    private int step;

    public ThreadChooser(int allowed)
    {
        candidates = allowed > 1 ? [1, allowed] : [Math.Max(1, allowed)];
        samples = candidates.Select(_ => new List<double>()).ToArray();
        Chosen = candidates[^1];
    }

    /// <summary>The count the last probe found fastest (all allowed before the first).</summary>
    public int Chosen { get; private set; }

    private int ProbeLength => candidates.Length == 1 ? 0 : ProbeSteps * candidates.Length;

    /// <summary>The threads for the next step.</summary>
    public int Next()
    {
        var position = step % (ProbeLength + KeepSteps);
        return position < ProbeLength ? candidates[position % candidates.Length] : Chosen;
    }

    /// <summary>Records how long the step just computed with <paramref name="threads"/> took.</summary>
    public void Record(int threads, double seconds)
    {
        var position = step % (ProbeLength + KeepSteps);
        step++;
        if (position >= ProbeLength)
        {
            return;
        }

        samples[Array.IndexOf(candidates, threads)].Add(seconds);
        if (position == ProbeLength - 1)
        {
            var medians = samples.Select(Median).ToArray();
            Chosen = candidates[Array.IndexOf(medians, medians.Min())];
            foreach (var list in samples)
            {
                list.Clear();
            }
        }
    }

    private static double Median(List<double> values)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length == 0 ? double.MaxValue : sorted[sorted.Length / 2];
    }
}
