namespace Maas.Optimization;

/// <summary>A gate's verdict: passed only when every check held.</summary>
public sealed record GateResult(bool Passed, IReadOnlyList<GateCheck> Checks);
