namespace Maas.Runtimes.Llama.Training;

/// <summary>What happened in one epoch of fine-tuning.</summary>
/// <param name="Epoch">1-based epoch number.</param>
/// <param name="TrainingLoss">Mean cross-entropy per assistant token over the epoch's training windows.</param>
/// <param name="ValidationLoss">Mean cross-entropy per assistant token on the validation chats, or null without them.</param>
/// <param name="Checkpoint">The GGUF written after this epoch.</param>
/// <param name="Steps">Optimizer steps so far (AdamW steps ggml took, counted where it asks for the step's parameters).</param>
/// <param name="TrainedTokens">Tokens (window positions) trained in this epoch.</param>
/// <param name="Seconds">Wall time of the epoch's training windows.</param>
/// <param name="StartValidationLoss">The validation loss of the model this run started from (the base, or the resumed checkpoint).</param>
public sealed record LlamaFineTuneEpoch(int Epoch, double TrainingLoss, double? ValidationLoss, string Checkpoint, long Steps, long TrainedTokens, double Seconds,
    double? StartValidationLoss);
