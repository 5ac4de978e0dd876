namespace Maas.Runtimes.Llama;

/// <summary>llama.cpp's timing counters of a context (llama_perf_context_data).</summary>
/// <param name="Load">Time spent loading the model.</param>
/// <param name="PromptEval">Time spent on prompt (multi-token) batches.</param>
/// <param name="Eval">Time spent on single-token generation.</param>
/// <param name="PromptTokens">Prompt tokens processed.</param>
/// <param name="EvalTokens">Generated tokens processed.</param>
/// <param name="GraphReuses">How often a compute graph was reused.</param>
public sealed record LlamaPerformance(TimeSpan Load, TimeSpan PromptEval, TimeSpan Eval, int PromptTokens, int EvalTokens, int GraphReuses);
