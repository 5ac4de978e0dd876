using System.Reflection;
using System.Runtime.InteropServices;
using Maas.Core.Hosting;

namespace Maas.Runtimes.Ggml.Native;

/// <summary>Finds and loads ggml from the pinned llama.cpp build (the same folder and files the llama runtime uses).</summary>
/// <remarks>
/// The P/Invoke declarations name "ggml" and "ggml-base"; the resolver maps them to the versioned files in the engine
/// folder. Loading a file the llama runtime already loaded returns the same module, so both share one ggml.
/// </remarks>
internal static class GgmlLibrary
{
    /// <summary>The engine name in the native cache (ggml ships inside the llama.cpp build).</summary>
    public const string Engine = "llama";

    /// <summary>The npm package version the build pins (the cache folder is named after it).</summary>
    public const string PinnedVersion = "3.22.1";

    /// <summary>Import name of libggml (the backend registry).</summary>
    public const string Ggml = "ggml";

    /// <summary>Import name of libggml-base (tensors, graphs, backends, ggml-opt).</summary>
    public const string GgmlBase = "ggml-base";

    private static readonly Lock Gate = new();
    private static readonly Dictionary<string, IntPtr> Handles = new(StringComparer.Ordinal);
    private static int resolverRegistered;
    private static string? directory;

    /// <summary>The folder the libraries are loaded from.</summary>
    public static string Directory => directory ??= NativeEngineDirectory.Resolve(Engine, PinnedVersion);

    /// <summary>The file that backs an import name on this platform.</summary>
    public static string FileName(string importName) => (importName, OperatingSystem.IsWindows(), OperatingSystem.IsMacOS()) switch
    {
        (Ggml, true, _) => "ggml.dll",
        (GgmlBase, true, _) => "ggml-base.dll",
        (Ggml, _, true) => "libggml.v0.5.0.dylib",
        (GgmlBase, _, true) => "libggml-base.dylib",
        (Ggml, _, _) => "libggml.v0.5.0.so",
        (GgmlBase, _, _) => "libggml-base.so",
        _ => throw new ArgumentOutOfRangeException(nameof(importName), importName, "not a ggml library"),
    };

    /// <summary>Installs the import resolver for this assembly (once).</summary>
    public static void RegisterResolver()
    {
        if (Interlocked.Exchange(ref resolverRegistered, 1) == 0)
        {
            NativeLibrary.SetDllImportResolver(typeof(GgmlLibrary).Assembly, Resolve);
        }
    }

    /// <summary>Loads one library by import name from the engine folder, with a clear error when it is missing.</summary>
    public static IntPtr Load(string importName)
    {
        lock (Gate)
        {
            if (Handles.TryGetValue(importName, out var loaded))
            {
                return loaded;
            }

            var file = FileName(importName);
            var path = Path.Combine(Directory, file);
            if (!File.Exists(path))
            {
                throw new DllNotFoundException(NativeEngineDirectory.MissingMessage(Engine, Directory, file));
            }

            // libggml needs libggml-base in the process first.
            if (importName == Ggml)
            {
                Load(GgmlBase);
            }

            var handle = NativeLibrary.Load(path);
            Handles[importName] = handle;
            return handle;
        }
    }

    /// <summary>The address of an exported function (used where ggml takes a function pointer of its own).</summary>
    public static IntPtr Export(string importName, string symbol) => NativeLibrary.GetExport(Load(importName), symbol);

    private static IntPtr Resolve(string libraryName, Assembly assembly, DllImportSearchPath? searchPath) =>
        libraryName is Ggml or GgmlBase ? Load(libraryName) : IntPtr.Zero;
}
