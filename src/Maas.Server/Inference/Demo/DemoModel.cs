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

    /// <summary>Registers the demo model when the registry has no models at all; returns true when it did.</summary>
    public static async Task<bool> SeedAsync(IModelRegistry registry, CancellationToken cancellationToken)
    {
        var existing = await registry.ListModelsAsync(new ModelQuery { Limit = 1 }, cancellationToken);
        if (existing.Total > 0)
        {
            return false;
        }

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
        return true;
    }
}
