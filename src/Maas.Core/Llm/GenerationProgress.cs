namespace Maas.Core.Llm;

/// <summary>
/// Tokens sampled so far for one generation, counted by the engine as it goes: a caller that leaves mid-stream
/// never sees the final usage, yet what was generated for it is still metered.
/// </summary>
public sealed class GenerationProgress
{
    private int _generatedTokens;
    private long _admitted;

    /// <summary>Tokens generated so far (end-of-generation tokens are not counted, as in the usage).</summary>
    public int GeneratedTokens => Volatile.Read(ref _generatedTokens);

    /// <summary>Called by the engine for each generated token.</summary>
    public void TokenGenerated() => Interlocked.Increment(ref _generatedTokens);

    /// <summary>When the engine gave the generation a slot (a <see cref="System.Diagnostics.Stopwatch"/> timestamp; 0 while it waits).</summary>
    public long AdmittedTimestamp => Volatile.Read(ref _admitted);

    /// <summary>Called by the engine when the generation leaves the queue for a slot (its trace's queue span ends here).</summary>
    public void Admitted() => Volatile.Write(ref _admitted, System.Diagnostics.Stopwatch.GetTimestamp());
}
