using Maas.Core.Hosting;

namespace Maas.Runtimes.Llama.Training;

/// <summary>How <see cref="LlamaFineTuner"/> trains: epochs, AdamW's learning rate, window and thread sizes.</summary>
public sealed record LlamaFineTuneOptions
{
    /// <summary>Passes over the training chats.</summary>
    public int Epochs { get; init; } = 3;

    /// <summary>AdamW's learning rate.</summary>
    public float LearningRate { get; init; } = 1e-4f;

    /// <summary>Tokens per packed window (the training context, a multiple of 256); chats are packed whole into windows of this size.</summary>
    /// <remarks>With <see cref="ChatsPerStep"/>, the upper bound: the window is the smallest multiple of 256 that holds each step's chats.</remarks>
    public int Window { get; init; } = 512;

    /// <summary>
    /// Chats per optimizer step (OpenAI's batch_size): consecutive groups of this many chats, each packed alone into
    /// one window that is one step (the last group holds the rest); null packs as many whole chats as fit into each
    /// window, one step per window.
    /// </summary>
    public int? ChatsPerStep { get; init; }

    /// <summary>Tokens per forward/backward graph (bounds the compute buffers; divides the window); null: 256.</summary>
    public int? MicroBatch { get; init; }

    /// <summary>CPU threads for training (kept below the core count so serving continues).</summary>
    public int Threads { get; init; } = 1;

    /// <summary>How many of the last transformer layers train (the rest stay frozen, to fit memory); null trains every layer.</summary>
    public int? TrainedLayers { get; init; }

    /// <summary>Seed of the window order shuffle.</summary>
    public int Seed { get; init; }

    /// <summary>Where checkpoints and temporary files go (created if missing).</summary>
    public required string WorkFolder { get; init; }

    /// <summary>Resume after this many completed epochs from <see cref="ResumeCheckpoint"/> (a checkpoint this tuner wrote).</summary>
    public int ResumeAfterEpoch { get; init; }

    /// <summary>Extra GGUF metadata (string values) written into the fine-tuned model, e.g. where it came from.</summary>
    public IReadOnlyDictionary<string, string> ResultMetadata { get; init; } = new Dictionary<string, string>();

    /// <summary>The checkpoint to resume from, or null to start from the base.</summary>
    public string? ResumeCheckpoint { get; init; }

    /// <summary>
    /// Asked after every window (one optimizer step, or one validation window) with the time it computed, so training
    /// gives way to serving in the same process (it may block); null never waits.
    /// </summary>
    public ITrainingGate? Gate { get; init; }
}

/// <summary>One chat to train on: the messages in order; only the assistant messages' tokens count in the loss.</summary>
/// <param name="Messages">The chat's messages.</param>
public sealed record LlamaTrainingChat(IReadOnlyList<LlamaChatMessage> Messages);

/// <summary>What happened in one epoch of fine-tuning.</summary>
/// <param name="Epoch">1-based epoch number.</param>
/// <param name="TrainingLoss">Mean cross-entropy per assistant token over the epoch's training windows.</param>
/// <param name="ValidationLoss">Mean cross-entropy per assistant token on the validation chats, or null without them.</param>
/// <param name="Checkpoint">The GGUF written after this epoch.</param>
/// <param name="Steps">Optimizer steps so far (AdamW steps ggml took, counted where it asks for the step's parameters).</param>
/// <param name="TrainedTokens">Tokens (window positions) trained in this epoch.</param>
/// <param name="Seconds">Wall time of the epoch's training windows.</param>
/// <param name="StartValidationLoss">The validation loss of the model this run started from (the base, or the resumed checkpoint).</param>
public sealed record LlamaFineTuneEpoch(int Epoch, double TrainingLoss, double? ValidationLoss, string Checkpoint, long Steps, long TrainedTokens, double Seconds, double? StartValidationLoss);

/// <summary>The outcome of a fine-tuning run.</summary>
/// <param name="ModelPath">The fine-tuned GGUF (quantised back to the base's type when the base was quantised).</param>
/// <param name="BaseValidationLoss">The base's validation loss before training, or null without validation chats.</param>
/// <param name="Epochs">Every completed epoch, in order.</param>
/// <param name="Windows">Packed training windows per epoch.</param>
/// <param name="TrainedFileType">llama.cpp's name of the type the weights were trained in.</param>
/// <param name="Window">Tokens per window as trained (below <see cref="LlamaFineTuneOptions.Window"/> when fewer hold each step's chats).</param>
public sealed record LlamaFineTuneResult(string ModelPath, double? BaseValidationLoss, IReadOnlyList<LlamaFineTuneEpoch> Epochs, int Windows, string TrainedFileType, int Window);

/// <summary>The base model or the data cannot be fine-tuned; the message says why (a caller's mistake, not an engine failure).</summary>
public sealed class LlamaFineTuneRefusedException(string message) : Exception(message);
