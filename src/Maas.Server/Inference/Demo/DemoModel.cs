using Maas.Core.Formats.Onnx;
using Maas.Core.Registry;

namespace Maas.Server.Inference.Demo;

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

    /// <summary>
    /// Registers the demo on the first start whose registry holds no ONNX model; returns true when it did.
    /// Other kinds of models (the LLM demo) do not count, so both demos appear on a fresh data folder.
    /// </summary>
    public static async Task<bool> SeedAsync(IModelRegistry registry, string dataDir, CancellationToken cancellationToken)
    {
        var marker = Path.Combine(dataDir, MarkerFile);
        if (File.Exists(marker))
        {
            return false;
        }

        var existing = await registry.ListModelsAsync(new ModelQuery { Format = Core.Formats.ModelFormat.Onnx, Limit = 1 }, cancellationToken);
        if (existing.Total == 0)
        {
            await RegisterAsync(registry, cancellationToken);
        }

        Directory.CreateDirectory(dataDir);
        await File.WriteAllTextAsync(marker, $"{DateTimeOffset.UtcNow:O}\n", cancellationToken);
        return existing.Total == 0;
    }

    private static async Task RegisterAsync(IModelRegistry registry, CancellationToken cancellationToken)
    {
        await registry.CreateModelAsync(
            new NewModel(Name, "Demo: a small MLP classifier (4 features -> 3 class probabilities) to try the inference APIs with",
                ["demo"], "tabular-classification", ModelVisibility.Shared, Model.DefaultOwner, "maas"),
            cancellationToken);
        await using var draft = await registry.BeginVersionAsync(Name, new NewVersionOptions { CreatedBy = "maas" }, cancellationToken);
        using (var content = new MemoryStream(Build()))
        {
            await draft.AddFileAsync("demo-classifier.onnx", content, null, cancellationToken);
        }

        await registry.CommitVersionAsync(draft, cancellationToken);
    }
}
