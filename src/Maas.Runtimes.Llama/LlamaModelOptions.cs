namespace Maas.Runtimes.Llama;

/// <summary>How a GGUF model is loaded (the parts of <c>llama_model_params</c> that matter for serving).</summary>
public sealed record LlamaModelOptions
{
    /// <summary>Memory-map the file (default): fast loads, pages shared between processes, weights paged in on demand.</summary>
    public bool UseMemoryMap { get; init; } = true;

    /// <summary>Lock the weights in RAM so the OS cannot swap them out.</summary>
    public bool LockInMemory { get; init; }

    /// <summary>Layers to offload to the GPU (negative: all); null keeps llama.cpp's default. Ignored by CPU-only builds.</summary>
    public int? GpuLayerCount { get; init; }

    /// <summary>How layers are spread over several GPUs.</summary>
    public LlamaSplitMode? SplitMode { get; init; }

    /// <summary>The GPU that holds the whole model when <see cref="SplitMode"/> is None.</summary>
    public int? MainGpu { get; init; }

    /// <summary>Load only the vocabulary (for tokenizing), no weights.</summary>
    public bool VocabularyOnly { get; init; }

    /// <summary>Validate tensor data while loading (slower; catches corrupt files).</summary>
    public bool CheckTensors { get; init; }

    /// <summary>Called with load progress from 0 to 1 on the loading thread; return false to abort the load.</summary>
    public Func<float, bool>? Progress { get; init; }
}
