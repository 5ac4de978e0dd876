using Maas.Runtimes.Onnx.Native;

namespace Maas.Runtimes.Onnx;

/// <summary>Facts about the loaded ONNX Runtime library.</summary>
public static class OnnxRuntime
{
    /// <summary>The engine version MaaS pins and fetches.</summary>
    public const string PinnedVersion = OrtLibrary.PinnedVersion;

    /// <summary>The C API version MaaS binds.</summary>
    public const uint ApiVersion = OrtLibrary.ApiVersion;

    /// <summary>The version the loaded library reports (OrtApiBase::GetVersionString).</summary>
    public static string Version => OrtLibrary.VersionString();

    /// <summary>Where the library was loaded from.</summary>
    public static string LibraryPath => OrtLibrary.LibraryPath;

    /// <summary>The execution providers compiled into the loaded build ("CPUExecutionProvider", "CUDAExecutionProvider", ...).</summary>
    public static IReadOnlyList<string> AvailableProviders => OrtNative.AvailableProviders();
}
