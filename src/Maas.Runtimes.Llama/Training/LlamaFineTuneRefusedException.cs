namespace Maas.Runtimes.Llama.Training;

/// <summary>The base model or the data cannot be fine-tuned; the message says why (a caller's mistake, not an engine failure).</summary>
public sealed class LlamaFineTuneRefusedException(string message) : Exception(message);
