namespace Maas.Optimization.Gguf;

/// <summary>What one GGUF model measured on a text: its perplexity and its prompt and generation speed.</summary>
public sealed record LlmMeasurementResult(double Perplexity, int EvaluatedTokens, double PromptTokensPerSecond, double GenerationTokensPerSecond, int GeneratedTokens);
