using Maas.Core.Formats.Onnx;
using Maas.Core.Registry;
using Maas.Server.Hosting;

namespace Maas.Server.TensorInference.Demo;

/// <summary>
/// The model a new user can call right after the first start: a small MLP classifier (4 features in, 3 class
/// probabilities out, dynamic batch dimension) with fixed generated weights, written by our own ONNX writer.
/// </summary>
public static class DemoModel
{
    /// <summary>The demo model's registry name.</summary>
    public const string Name = "demo-classifier";

    /// <summary>Features per example.</summary>
    public const int Features = 4;

    /// <summary>Classes the softmax output scores.</summary>
    public const int Classes = 3;

    /// <summary>The ONNX file's bytes (the same on every machine: the weights come from a fixed seed).</summary>
    public static byte[] Build() => OnnxModelWriter.Mlp(Features, [16], Classes, seed: 20240601, softmax: true)
        .Producer("maas-demo", "1")
        .Description("MaaS demo: a 4-16-3 MLP classifier with fixed generated weights; input 'input' FP32 [batch,4], output 'output' FP32 [batch,3] (class probabilities)")
        .ToBytes();

    /// <summary>The file in the data folder that records the demo was offered, so a deleted demo stays deleted.</summary>
    public const string MarkerFile = "inference-demo-seeded";

    /// <summary>How the demo is registered.</summary>
    public static readonly DemoSpec Spec = new(
        Name,
        MarkerFile,
        Core.Formats.ModelFormat.Onnx,
        "Demo: a small MLP classifier (4 features -> 3 class probabilities) to try the inference APIs with",
        "tabular-classification",
        "demo-classifier.onnx",
        path => File.WriteAllBytes(path, Build()));

    /// <summary>Registers the demo on the first start whose registry holds no ONNX model; returns true when it did.</summary>
    public static Task<bool> SeedAsync(IModelRegistry registry, string dataDir, CancellationToken cancellationToken) =>
        DemoSeeder.SeedAsync(registry, dataDir, Spec, cancellationToken);
}
