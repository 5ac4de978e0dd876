namespace Maas.Core.Llm;

/// <summary>What an engine knows about its model and how it runs it.</summary>
public sealed record LlmModelInfo
{
    /// <summary>The registry name.</summary>
    public required string Name { get; init; }

    /// <summary>The registry version.</summary>
    public required int Version { get; init; }

    /// <summary>GGUF general.architecture.</summary>
    public string Architecture { get; init; } = "";

    /// <summary>The model's own description (llama.cpp's model description string).</summary>
    public string Description { get; init; } = "";

    /// <summary>Context tokens per slot.</summary>
    public required int ContextPerSlot { get; init; }

    /// <summary>Parallel slots.</summary>
    public required int Slots { get; init; }

    /// <summary>The context length the model was trained with.</summary>
    public int TrainContext { get; init; }

    /// <summary>Vocabulary size.</summary>
    public int VocabularySize { get; init; }

    /// <summary>Embedding width.</summary>
    public int EmbeddingSize { get; init; }

    /// <summary>Where the chat format comes from: "gguf" (the model's template) or "chatml" (the default).</summary>
    public string ChatFormat { get; init; } = "chatml";

    /// <summary>The KV cache layout: "per-slot" (one buffer per slot) or "unified" (one buffer shared by all slots).</summary>
    public string KvCache { get; init; } = "per-slot";

    /// <summary>How new prompts join the decode steps: "batched" or "staggered".</summary>
    public string PromptAdmission { get; init; } = "batched";

    /// <summary>When the engine finished loading.</summary>
    public DateTimeOffset LoadedAt { get; init; }
}
