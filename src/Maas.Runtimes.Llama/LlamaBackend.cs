using Maas.Runtimes.Llama.Native;
using Maas.Runtimes.Llama.Native.Load;
using Microsoft.Extensions.Logging;

namespace Maas.Runtimes.Llama;

/// <summary>The process-wide llama.cpp runtime: loads the libraries and the ggml CPU backends once, and routes their logs.</summary>
/// <remarks>Every other type calls <see cref="EnsureInitialized"/>, so calling <see cref="Initialize"/> yourself is optional.</remarks>
public static class LlamaBackend
{
    private static readonly Lock Gate = new();
    private static volatile bool initialized;
    private static IReadOnlyList<LlamaDevice> devices = [];

    /// <summary>The folder the engine libraries come from (the build's cache, or MAAS_NATIVE_DIR).</summary>
    public static string LibraryDirectory => LlamaLibrary.Directory;

    /// <summary>The compute devices ggml found (at least the CPU).</summary>
    public static IReadOnlyList<LlamaDevice> Devices
    {
        get
        {
            EnsureInitialized();
            return devices;
        }
    }

    /// <summary>llama.cpp's build and CPU feature summary (llama_print_system_info).</summary>
    public static string SystemInfo
    {
        get
        {
            EnsureInitialized();
            return NativeApi.SystemInfo();
        }
    }

    /// <summary>Whether this build can memory-map model files.</summary>
    public static bool SupportsMemoryMap
    {
        get
        {
            EnsureInitialized();
            return NativeApi.llama_supports_mmap();
        }
    }

    /// <summary>Whether this build can offload layers to a GPU.</summary>
    public static bool SupportsGpuOffload
    {
        get
        {
            EnsureInitialized();
            return NativeApi.llama_supports_gpu_offload();
        }
    }

    /// <summary>The most sequences one context can hold (llama_max_parallel_sequences).</summary>
    public static int MaxParallelSequences
    {
        get
        {
            EnsureInitialized();
            return (int)NativeApi.llama_max_parallel_sequences();
        }
    }

    /// <summary>Sends llama.cpp's log lines at <paramref name="minimumLevel"/> and above to <paramref name="loggerFactory"/> (category "Maas.Runtimes.Llama.Native").</summary>
    /// <remarks>Without a logger, warnings and errors go to standard error.</remarks>
    public static void ConfigureLogging(ILoggerFactory? loggerFactory, LogLevel minimumLevel = LogLevel.Warning) =>
        LlamaLogging.Configure(loggerFactory?.CreateLogger("Maas.Runtimes.Llama.Native"), minimumLevel);

    /// <summary>Sends llama.cpp's log lines at <paramref name="minimumLevel"/> and above to <paramref name="logger"/> (null: warnings and errors to standard error).</summary>
    public static void ConfigureLogging(ILogger? logger, LogLevel minimumLevel = LogLevel.Warning) =>
        LlamaLogging.Configure(logger, minimumLevel);

    /// <summary>Loads the libraries and backends now (it otherwise happens on first use).</summary>
    public static void Initialize() => EnsureInitialized();

    internal static void EnsureInitialized()
    {
        if (initialized)
        {
            return;
        }

        lock (Gate)
        {
            if (initialized)
            {
                return;
            }

            LlamaLibrary.Load(LlamaLibrary.Llama);
            LlamaLogging.Install();

            // The CPU backends are separate libraries chosen by instruction set: without this no device exists.
            NativeApi.ggml_backend_load_all_from_path(LlamaLibrary.Directory);
            NativeApi.llama_backend_init();
            devices = NativeApi.Devices();
            if (devices.Count == 0)
            {
                throw new LlamaException(
                    $"ggml found no compute device in '{LlamaLibrary.Directory}': the libggml-cpu-*.so backends are missing or do not load on this CPU");
            }

            initialized = true;
        }
    }
}
