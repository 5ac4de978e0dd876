using Maas.Runtimes.Onnx;

namespace Maas.Optimization.Onnx;

/// <summary>ONNX Runtime's own graph optimisations (constant folding, fusions), saved as a model file.</summary>
/// <remarks>
/// The basic and extended levels give a file any machine runs. The all level adds layout optimisations: convolutions
/// rewritten to ONNX Runtime's NCHWc operators in blocks of this CPU's vector width (8 floats with AVX2, 16 with
/// AVX-512), which ties the saved file to machines like the one that wrote it; the caller must ask for that.
/// </remarks>
public static class OnnxGraphOptimizer
{
    /// <summary>The operator domain of ONNX Runtime's blocked-layout (NCHWc) operators.</summary>
    public const string LayoutDomain = "com.microsoft.nchwc";

    /// <summary>Loads <paramref name="source"/> at <paramref name="level"/> ("basic", "extended" or "all") and saves the optimised graph to <paramref name="output"/>.</summary>
    public static void Optimize(string source, string output, string level)
    {
        using var options = new OnnxSessionOptions
        {
            GraphOptimizationLevel = level switch
            {
                "basic" => OnnxGraphOptimizationLevel.Basic,
                "extended" => OnnxGraphOptimizationLevel.Extended,
                "all" => OnnxGraphOptimizationLevel.All,
                _ => throw new ArgumentException($"level must be basic, extended or all, not '{level}'", nameof(level)),
            },
            OptimizedModelFilePath = output,
            IntraOpThreads = 1,
        };
        using var session = OnnxSession.Open(source, options);
    }

    /// <summary>
    /// The nodes of the saved model at <paramref name="path"/> laid out for this machine's CPU (<see cref="LayoutDomain"/>),
    /// in its subgraphs (If branches, Loop and Scan bodies) as well: ONNX Runtime optimises those too.
    /// </summary>
    public static int MachineSpecificNodes(string path) => OnnxGraph.AllNodes(OnnxGraph.Load(path).Graph).Count(n => n.Domain == LayoutDomain);

    /// <summary>The vector extensions of this CPU that decide the NCHWc block size, for the report of a machine-specific file.</summary>
    public static string[] CpuFeatures()
    {
        var features = new List<string> { System.Runtime.InteropServices.RuntimeInformation.ProcessArchitecture.ToString().ToLowerInvariant() };
        if (System.Runtime.Intrinsics.X86.Avx2.IsSupported)
        {
            features.Add("avx2");
        }

        if (System.Runtime.Intrinsics.X86.Avx512F.IsSupported)
        {
            features.Add("avx512f");
        }

        if (System.Runtime.Intrinsics.Arm.AdvSimd.IsSupported)
        {
            features.Add("neon");
        }

        return [.. features];
    }
}
