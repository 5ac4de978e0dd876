namespace Maas.Core.Llm;

/// <summary>Where a new request runs: its slot, how many leading prompt tokens it reuses, and where their KV comes from.</summary>
/// <param name="Target">The slot (KV sequence id) the request takes.</param>
/// <param name="Reuse">
/// Leading prompt tokens whose KV is reused (already in the target, copied or restored into it); the whole prompt when
/// the source also kept the logits after it, so the first token is sampled from those without a decode.
/// </param>
/// <param name="CopyFrom">The slot whose KV is copied into the target first; null when none is.</param>
/// <param name="RestoreFrom">The host prompt cache entry restored into the target first; null when none is.</param>
public readonly record struct SlotPlan(int Target, int Reuse, int? CopyFrom, int? RestoreFrom = null);
