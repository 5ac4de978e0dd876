using Maas.Runtimes.Llama;

namespace Maas.Optimization.Gguf;

/// <summary>The llama.cpp quantisation types a <c>gguf-quantize</c> job accepts, by their usual lower-case names.</summary>
public static class GgufQuantTypes
{
    // The types llama.cpp makes without an importance matrix (the IQ1/IQ2 families and Q2_K_S need one).
    private static readonly LlamaFileType[] Supported =
    [
        LlamaFileType.MostlyQ8_0, LlamaFileType.MostlyQ6_K, LlamaFileType.MostlyQ5_K_M, LlamaFileType.MostlyQ5_K_S,
        LlamaFileType.MostlyQ5_1, LlamaFileType.MostlyQ5_0, LlamaFileType.MostlyQ4_K_M, LlamaFileType.MostlyQ4_K_S,
        LlamaFileType.MostlyQ4_1, LlamaFileType.MostlyQ4_0, LlamaFileType.MostlyQ3_K_L, LlamaFileType.MostlyQ3_K_M,
        LlamaFileType.MostlyQ3_K_S, LlamaFileType.MostlyQ2_K, LlamaFileType.MostlyIQ4_NL, LlamaFileType.MostlyIQ4_XS,
        LlamaFileType.MostlyF16, LlamaFileType.MostlyBF16,
    ];

    /// <summary>Every accepted name ("q8_0", "q4_k_m", ...) and its file type.</summary>
    public static IReadOnlyDictionary<string, LlamaFileType> ByName { get; } =
        Supported.ToDictionary(t => t.ToString()["Mostly".Length..].ToLowerInvariant(), t => t, StringComparer.Ordinal);
}
