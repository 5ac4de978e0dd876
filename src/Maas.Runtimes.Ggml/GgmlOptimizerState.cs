namespace Maas.Runtimes.Ggml;

/// <summary>An optimiser's state to resume from: epochs and steps done, AdamW's moments (m, v per weight tensor).</summary>
public sealed record GgmlOptimizerState(int Epochs, long Steps, IReadOnlyList<float[]> Moments);
