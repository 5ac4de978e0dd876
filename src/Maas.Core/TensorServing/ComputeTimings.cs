using System.Diagnostics;

namespace Maas.Core.TensorServing;

/// <summary>Time a run spends preparing inputs, executing and extracting outputs, in <see cref="Stopwatch"/> ticks.</summary>
public sealed class ComputeTimings
{
    /// <summary>Preparing input tensors (batch assembly, engine tensor creation).</summary>
    public long InputTicks { get; set; }

    /// <summary>Executing the model.</summary>
    public long InferTicks { get; set; }

    /// <summary>Extracting outputs (engine tensors to pooled buffers, splitting a batch).</summary>
    public long OutputTicks { get; set; }

    /// <summary>Converts ticks to nanoseconds.</summary>
    public static long ToNanoseconds(long ticks) => (long)(ticks * (1_000_000_000.0 / Stopwatch.Frequency));
}
