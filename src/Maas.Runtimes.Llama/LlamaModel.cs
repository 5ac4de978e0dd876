using Maas.Runtimes.Llama.Native;

namespace Maas.Runtimes.Llama;

/// <summary>A GGUF model loaded by llama.cpp: its weights, vocabulary and metadata. Thread-safe for reading; contexts do the work.</summary>
public sealed class LlamaModel : IDisposable
{
    private readonly Lazy<IReadOnlyDictionary<string, string>> metadata;

    private LlamaModel(SafeLlamaModelHandle handle, string path)
    {
        Handle = handle;
        Path = path;
        Tokenizer = new LlamaTokenizer(this);
        Architecture = handle.MetaValue("general.architecture") ?? string.Empty;
        Name = handle.MetaValue("general.name");
        Description = handle.Description();
        ParameterCount = (long)NativeApi.llama_model_n_params(handle);
        SizeBytes = (long)NativeApi.llama_model_size(handle);
        TrainingContextLength = NativeApi.llama_model_n_ctx_train(handle);
        EmbeddingLength = NativeApi.llama_model_n_embd(handle);
        LayerCount = NativeApi.llama_model_n_layer(handle);
        HeadCount = NativeApi.llama_model_n_head(handle);
        KeyValueHeadCount = NativeApi.llama_model_n_head_kv(handle);
        FileType = NativeApi.llama_model_ftype(handle);
        FileTypeName = handle.FileTypeName(FileType);
        ChatTemplate = handle.ChatTemplate(null);
        HasEncoder = NativeApi.llama_model_has_encoder(handle);
        HasDecoder = NativeApi.llama_model_has_decoder(handle);
        IsRecurrent = NativeApi.llama_model_is_recurrent(handle);
        metadata = new(() => handle.Metadata().ToDictionary(kv => kv.Key, kv => kv.Value, StringComparer.Ordinal));
    }

    /// <summary>The file the model was loaded from.</summary>
    public string Path { get; }

    /// <summary>general.architecture, e.g. "llama".</summary>
    public string Architecture { get; }

    /// <summary>general.name, when the file has one.</summary>
    public string? Name { get; }

    /// <summary>llama.cpp's one-line description, e.g. "llama 7B Q8_0".</summary>
    public string Description { get; }

    /// <summary>Number of weights.</summary>
    public long ParameterCount { get; }

    /// <summary>Bytes of all tensors.</summary>
    public long SizeBytes { get; }

    /// <summary>The context length the model was trained with.</summary>
    public int TrainingContextLength { get; }

    /// <summary>Width of the embeddings (n_embd).</summary>
    public int EmbeddingLength { get; }

    /// <summary>Number of layers.</summary>
    public int LayerCount { get; }

    /// <summary>Attention heads.</summary>
    public int HeadCount { get; }

    /// <summary>Key/value heads.</summary>
    public int KeyValueHeadCount { get; }

    /// <summary>The weights' storage type.</summary>
    public LlamaFileType FileType { get; }

    /// <summary>llama.cpp's name of <see cref="FileType"/>, e.g. "Q8_0".</summary>
    public string FileTypeName { get; }

    /// <summary>The model's own chat template (tokenizer.chat_template), or null.</summary>
    public string? ChatTemplate { get; }

    /// <summary>True for encoder(-decoder) models that need llama_encode.</summary>
    public bool HasEncoder { get; }

    /// <summary>True for models that generate with llama_decode.</summary>
    public bool HasDecoder { get; }

    /// <summary>True for recurrent models (Mamba, RWKV): their memory cannot be edited per position.</summary>
    public bool IsRecurrent { get; }

    /// <summary>Number of tokens in the vocabulary.</summary>
    public int VocabularySize => Tokenizer.Count;

    /// <summary>Tokenizing and detokenizing with this model's vocabulary.</summary>
    public LlamaTokenizer Tokenizer { get; }

    /// <summary>Every scalar GGUF key/value as llama.cpp renders it (arrays are summarised by llama.cpp).</summary>
    public IReadOnlyDictionary<string, string> Metadata => metadata.Value;

    internal SafeLlamaModelHandle Handle { get; }

    /// <summary>Loads a GGUF model.</summary>
    /// <exception cref="FileNotFoundException">No file at <paramref name="path"/>.</exception>
    /// <exception cref="LlamaException">llama.cpp refused the file; the message carries its reason.</exception>
    /// <exception cref="OperationCanceledException">The token was cancelled during the load.</exception>
    public static LlamaModel Load(string path, LlamaModelOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        options ??= new LlamaModelOptions();
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"No model file at '{path}'", path);
        }

        cancellationToken.ThrowIfCancellationRequested();
        LlamaBackend.EnsureInitialized();

        var parameters = NativeApi.llama_model_default_params();
        parameters.LoadMode = (options.UseMemoryMap, options.LockInMemory) switch
        {
            (true, true) => LlamaLoadMode.MmapMlock,
            (true, false) => LlamaLoadMode.Mmap,
            (false, true) => LlamaLoadMode.Mlock,
            (false, false) => LlamaLoadMode.None,
        };
        parameters.NGpuLayers = options.GpuLayerCount ?? parameters.NGpuLayers;
        parameters.SplitMode = options.SplitMode ?? parameters.SplitMode;
        parameters.MainGpu = options.MainGpu ?? parameters.MainGpu;
        parameters.VocabOnly = options.VocabularyOnly ? (byte)1 : (byte)0;
        parameters.CheckTensors = options.CheckTensors ? (byte)1 : (byte)0;

        var progress = new LoadProgress(options.Progress, cancellationToken);
        LlamaLogging.BeginCapture();
        var handle = SafeLlamaModelHandle.Load(path, parameters, progress);
        if (handle is null)
        {
            var log = LlamaLogging.TakeErrors();
            cancellationToken.ThrowIfCancellationRequested();
            if (progress.Error is { } error)
            {
                throw new LlamaException($"the progress callback of the load of '{path}' failed", error.Message);
            }

            throw new LlamaException(
                progress.Aborted ? $"loading '{path}' was aborted by the progress callback" : $"llama_model_load_from_file('{path}') failed",
                log);
        }

        return new LlamaModel(handle, path);
    }

    /// <summary>Creates a context (KV cache and compute buffers) on this model.</summary>
    public LlamaContext CreateContext(LlamaContextOptions? options = null) => new(this, options ?? new LlamaContextOptions());

    /// <summary>A named chat template the model carries (tokenizer.chat_template.NAME), or null.</summary>
    public string? GetChatTemplate(string name) => Handle.ChatTemplate(name);

    /// <summary>The value of a scalar GGUF key as text, or null.</summary>
    public string? GetMetadata(string key) => Handle.MetaValue(key);

    /// <summary>Formats a chat with <paramref name="template"/> (built-in name or Jinja), else the model's own template, else <see cref="LlamaChatTemplates.Default"/>.</summary>
    public string ApplyChatTemplate(IReadOnlyList<LlamaChatMessage> messages, bool addAssistant = true, string? template = null) =>
        LlamaChatTemplates.Apply(template ?? ChatTemplate ?? LlamaChatTemplates.Default, messages, addAssistant);

    /// <inheritdoc />
    public void Dispose() => Handle.Dispose();

    /// <inheritdoc />
    public override string ToString() => $"{Description} ({System.IO.Path.GetFileName(Path)})";
}
