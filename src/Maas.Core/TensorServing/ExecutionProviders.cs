namespace Maas.Core.TensorServing;

/// <summary>The execution provider names a model's serving configuration may list, and their rules.</summary>
/// <remarks>
/// ONNX Runtime gives each graph node to the first provider in the list that can run it, and CPU is always the
/// implicit last; so "cpu", when listed, must come last (anything after it would never get a node).
/// </remarks>
public static class ExecutionProviders
{
    /// <summary>ONNX Runtime's CPU provider (in every build).</summary>
    public const string Cpu = "cpu";

    /// <summary>NVIDIA CUDA (the GPU build only: <c>-p:MaasOnnxGpu=true</c>).</summary>
    public const string Cuda = "cuda";

    /// <summary>NVIDIA TensorRT (the GPU build only: <c>-p:MaasOnnxGpu=true</c>).</summary>
    public const string TensorRt = "tensorrt";

    /// <summary>Every name accepted, in the usual order of preference.</summary>
    public static IReadOnlyList<string> Known { get; } = [TensorRt, Cuda, Cpu];

    /// <summary>The problems with <paramref name="providers"/>, one sentence each, naming the setting <paramref name="setting"/>.</summary>
    public static IReadOnlyList<string> Validate(IReadOnlyList<string> providers, string setting)
    {
        var errors = new List<string>();
        if (providers.Count == 0)
        {
            errors.Add($"{setting} must name at least one execution provider ({string.Join(", ", Known)}) or be left out");
        }

        for (var i = 0; i < providers.Count; i++)
        {
            var name = providers[i];
            if (!Known.Contains(name))
            {
                errors.Add($"{setting}[{i}] = '{Shorten(name)}' is not an execution provider MaaS knows; use {string.Join(", ", Known)}");
            }
            else if (providers.Take(i).Contains(name))
            {
                errors.Add($"{setting}[{i}] = '{name}' is listed twice");
            }
            else if (name == Cpu && i != providers.Count - 1)
            {
                errors.Add($"{setting}: 'cpu' must come last, as ONNX Runtime gives every node it can run to the first provider listed");
            }
        }

        return errors;
    }

    private static string Shorten(string? name) => name is null ? "null" : name.Length <= 40 ? name : name[..40] + "...";
}
