using System.Reflection;
using System.Runtime.InteropServices;
using Maas.Core.Hosting;

namespace Maas.Runtimes.Llama.Native.Load;

/// <summary>Finds and loads the pinned llama.cpp libraries, and the ggml CPU backends next to them.</summary>
/// <remarks>
/// The P/Invoke declarations name the libraries "llama", "ggml" and "ggml-base"; the resolver maps those names to
/// the versioned files in the engine folder, so nothing depends on LD_LIBRARY_PATH.
/// </remarks>
internal static class LlamaLibrary
{
    /// <summary>The engine name in the native cache.</summary>
    public const string Engine = "llama";

    /// <summary>The npm package version the build pins (the cache folder is named after it).</summary>
    public const string PinnedVersion = "3.22.1";

    /// <summary>Import name of libllama.</summary>
    public const string Llama = "llama";

    /// <summary>Import name of libggml (the backend registry).</summary>
    public const string Ggml = "ggml";

    /// <summary>Import name of libggml-base (core, logging).</summary>
    public const string GgmlBase = "ggml-base";

    private static readonly Lock Gate = new();
    private static int resolverRegistered;
    private static string? directory;
    private static readonly Dictionary<string, IntPtr> Handles = new(StringComparer.Ordinal);

    /// <summary>The folder the libraries are loaded from.</summary>
    public static string Directory => directory ??= NativeEngineDirectory.Resolve(Engine, PinnedVersion);

    /// <summary>The file that backs an import name on this platform.</summary>
    public static string FileName(string importName) => (importName, OperatingSystem.IsWindows(), OperatingSystem.IsMacOS()) switch
    {
        (Llama, true, _) => "llama.dll",
        (Ggml, true, _) => "ggml.dll",
        (GgmlBase, true, _) => "ggml-base.dll",
        (Llama, _, true) => "libllama.v0.5.0.dylib",
        (Ggml, _, true) => "libggml.v0.5.0.dylib",
        (GgmlBase, _, true) => "libggml-base.dylib",
        (Llama, _, _) => "libllama.v0.5.0.so",
        (Ggml, _, _) => "libggml.v0.5.0.so",
        (GgmlBase, _, _) => "libggml-base.so",
        _ => throw new ArgumentOutOfRangeException(nameof(importName), importName, "not a llama.cpp library"),
    };

    /// <summary>Installs the import resolver for this assembly (once).</summary>
    public static void RegisterResolver()
    {
        if (Interlocked.Exchange(ref resolverRegistered, 1) == 0)
        {
            NativeLibrary.SetDllImportResolver(typeof(LlamaLibrary).Assembly, Resolve);
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

            var path = Locate(Directory, importName);

            // Dependencies first, so each load finds its siblings already in the process.
            if (importName == Llama)
            {
                Load(Ggml);
            }
            else if (importName == Ggml)
            {
                Load(GgmlBase);
            }

            var handle = NativeLibrary.Load(path);
            Handles[importName] = handle;
            return handle;
        }
    }

    /// <summary>The library file for <paramref name="importName"/> in <paramref name="folder"/>, or a <see cref="DllNotFoundException"/> saying how to get it.</summary>
    public static string Locate(string folder, string importName)
    {
        var file = FileName(importName);
        var path = Path.Combine(folder, file);
        return File.Exists(path) ? path : throw new DllNotFoundException(NativeEngineDirectory.MissingMessage(Engine, folder, file));
    }

    private static IntPtr Resolve(string libraryName, Assembly assembly, DllImportSearchPath? searchPath) =>
        libraryName is Llama or Ggml or GgmlBase ? Load(libraryName) : IntPtr.Zero;
}
