namespace Maas.Runtimes.Llama.Native;

/// <summary><c>enum ggml_log_level</c>.</summary>
internal enum GgmlLogLevel
{
    None = 0,
    Debug = 1,
    Info = 2,
    Warn = 3,
    Error = 4,
    Continue = 5,
}

/// <summary><c>enum llama_load_mode</c>.</summary>
internal enum LlamaLoadMode
{
    Auto = -1,
    None = 0,
    Mmap = 1,
    Mlock = 2,
    MmapMlock = 3,
    DirectIo = 4,
}

/// <summary><c>enum llama_lazy_mode</c>.</summary>
internal enum LlamaLazyMode
{
    Off = 0,
    Auto = 1,
    On = 2,
}

/// <summary><c>enum llama_context_type</c>.</summary>
internal enum LlamaContextType
{
    Default = 0,
    Mtp = 1,
}
