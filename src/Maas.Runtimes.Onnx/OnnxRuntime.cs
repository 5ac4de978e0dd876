namespace Maas.Runtimes.Onnx;

/// <summary>Facts about the ONNX Runtime build in use (NuGet <c>Microsoft.ML.OnnxRuntime</c>, or its GPU build).</summary>
public static class OnnxRuntime
{
    /// <summary>The engine version MaaS pins (Directory.Packages.props).</summary>
    public const string PinnedVersion = "1.32.0";

    /// <summary>The version the loaded library reports.</summary>
    public static string Version => OnnxEnvironment.Instance.Env.GetVersionString();

    /// <summary>The execution providers compiled into the loaded build ("CPUExecutionProvider", "CUDAExecutionProvider", ...).</summary>
    public static IReadOnlyList<string> AvailableProviders => OnnxEnvironment.Instance.Env.GetAvailableProviders();
}
