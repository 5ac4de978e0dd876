namespace Maas.Runtimes.Llama.Training;

/// <summary>The outcome of a fine-tuning run.</summary>
/// <param name="ModelPath">The fine-tuned GGUF (quantised back to the base's type when the base was quantised).</param>
/// <param name="BaseValidationLoss">The base's validation loss before training, or null without validation chats.</param>
/// <param name="Epochs">Every completed epoch, in order.</param>
/// <param name="Windows">Packed training windows per epoch.</param>
/// <param name="TrainedFileType">llama.cpp's name of the type the weights were trained in.</param>
/// <param name="Window">Tokens per window as trained (below <see cref="LlamaFineTuneOptions.Window"/> when fewer hold each step's chats).</param>
public sealed record LlamaFineTuneResult(string ModelPath, double? BaseValidationLoss, IReadOnlyList<LlamaFineTuneEpoch> Epochs, int Windows, string TrainedFileType, int Window);
