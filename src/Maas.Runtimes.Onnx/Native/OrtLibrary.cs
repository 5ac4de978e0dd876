using System.Runtime.InteropServices;
using Maas.Core.Hosting;

namespace Maas.Runtimes.Onnx.Native;

/// <summary>Loads the pinned ONNX Runtime library and hands out the function pointers of its API table.</summary>
internal static unsafe class OrtLibrary
{
    /// <summary>The engine version MaaS pins (and the cache folder it is fetched into).</summary>
    public const string PinnedVersion = "1.30.0";

    /// <summary>The C API version MaaS binds: GetApi(30) gives the table the slots in <see cref="OrtApiSlot"/> index.</summary>
    public const uint ApiVersion = 30;

    private static readonly Lock Gate = new();
    private static void** _api;
    private static OrtApiBase* _apiBase;
    private static string? _path;

    /// <summary>The full path of the loaded library.</summary>
    public static string LibraryPath
    {
        get
        {
            EnsureLoaded();
            return _path!;
        }
    }

    /// <summary>The file name of the library on this platform.</summary>
    public static string FileName =>
        OperatingSystem.IsWindows() ? "onnxruntime.dll"
        : OperatingSystem.IsMacOS() ? $"libonnxruntime.{PinnedVersion}.dylib"
        : "libonnxruntime.so.1";

    /// <summary>The function pointer in slot <paramref name="slot"/> of the OrtApi table.</summary>
    public static void* Fn(OrtApiSlot slot) => EnsureLoaded()[(int)slot];

    /// <summary>OrtApiBase::GetVersionString, e.g. "1.30.0".</summary>
    public static string VersionString()
    {
        EnsureLoaded();
        return Marshal.PtrToStringUTF8((IntPtr)_apiBase->GetVersionString()) ?? "";
    }

    /// <summary>Whether this library hands out a table for <paramref name="version"/> (OrtApiBase::GetApi).</summary>
    public static bool SupportsApi(uint version)
    {
        EnsureLoaded();
        return _apiBase->GetApi(version) != null;
    }

    private static void** EnsureLoaded()
    {
        var api = _api;
        if (api != null)
        {
            return api;
        }

        lock (Gate)
        {
            if (_api == null)
            {
                Load();
            }

            return _api;
        }
    }

    /// <summary>The library file in <paramref name="folder"/>, or a <see cref="DllNotFoundException"/> saying how to get it.</summary>
    public static string Locate(string folder)
    {
        var path = Path.Combine(folder, FileName);
        if (File.Exists(path))
        {
            return path;
        }

        // A user's own folder may hold the unversioned name that ONNX Runtime's own packages ship.
        var plain = Path.Combine(folder, OperatingSystem.IsWindows() ? "onnxruntime.dll" : OperatingSystem.IsMacOS() ? "libonnxruntime.dylib" : "libonnxruntime.so");
        return File.Exists(plain) ? plain : throw new DllNotFoundException(NativeEngineDirectory.MissingMessage("ONNX Runtime", folder, FileName));
    }

    private static void Load()
    {
        var path = Locate(NativeEngineDirectory.Resolve("onnxruntime", PinnedVersion));

        IntPtr library;
        try
        {
            library = NativeLibrary.Load(path);
        }
        catch (Exception e) when (e is DllNotFoundException or BadImageFormatException)
        {
            throw new DllNotFoundException($"The ONNX Runtime library '{path}' exists but could not be loaded: {e.Message}", e);
        }

        var getApiBase = (delegate* unmanaged<OrtApiBase*>)NativeLibrary.GetExport(library, "OrtGetApiBase");
        var apiBase = getApiBase();
        var api = apiBase->GetApi(ApiVersion);
        if (api == null)
        {
            var version = Marshal.PtrToStringUTF8((IntPtr)apiBase->GetVersionString());
            throw new DllNotFoundException(
                $"The ONNX Runtime library '{path}' is version {version}, which does not provide C API version {ApiVersion}; " +
                $"MaaS needs ONNX Runtime {PinnedVersion} or newer.");
        }

        _apiBase = apiBase;
        _path = path;
        _api = (void**)api;
    }

    // struct OrtApiBase { const OrtApi* (*GetApi)(uint32_t); const char* (*GetVersionString)(void); }
    [StructLayout(LayoutKind.Sequential)]
    private readonly struct OrtApiBase
    {
        public readonly delegate* unmanaged<uint, void*> GetApi;
        public readonly delegate* unmanaged<byte*> GetVersionString;
    }
}
