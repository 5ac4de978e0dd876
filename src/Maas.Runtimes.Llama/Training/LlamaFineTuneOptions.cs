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
