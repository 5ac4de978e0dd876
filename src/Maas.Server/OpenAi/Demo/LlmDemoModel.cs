using Maas.Core.Formats;
using Maas.Core.Formats.Gguf;
using Maas.Core.Registry;

namespace Maas.Server.OpenAi.Demo;

/// <summary>
/// The LLM a new user can chat with right after the first start: a tiny Llama with random weights (it answers
/// gibberish), written by our own GGUF writer. It shows the plumbing (streaming, usage, the OpenAI clients) works
/// before any real model is uploaded.
/// </summary>
public static class LlmDemoModel
{
    /// <summary>The demo model's registry name.</summary>
    public const string Name = "demo-llm";

    /// <summary>The file in the data folder that records the demo was offered once (a deleted demo stays deleted).</summary>
    public const string MarkerFile = "llm-demo-seeded";

    /// <summary>Writes the demo GGUF (a few MB; the same bytes on every machine).</summary>
    public static void Write(string path) => GgufLlamaModelFactory.Write(path, GgufLlamaModelOptions.Demo);

    /// <summary>
    /// Registers the demo on the first start whose registry holds no GGUF model; returns true when it did.
    /// Other kinds of models (the ONNX demo) do not count, so both demos appear on a fresh data folder.
    /// </summary>
    public static async Task<bool> SeedAsync(IModelRegistry registry, string dataDir, CancellationToken cancellationToken)
    {
        var marker = Path.Combine(dataDir, MarkerFile);
        if (File.Exists(marker))
        {
            return false;
        }

        var existing = await registry.ListModelsAsync(new ModelQuery { Format = ModelFormat.Gguf, Limit = 1 }, cancellationToken);
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
        try
        {
            await registry.CreateModelAsync(
                new NewModel(
                    Name,
                    "Plumbing demo: a tiny Llama with random weights that answers gibberish. It shows chat completions stream "
                    + "through the OpenAI API; upload a real GGUF to get real answers.",
                    ["demo"],
                    "text-generation",
                    ModelVisibility.Shared,
                    Model.DefaultOwner,
                    "maas"),
                cancellationToken);
        }
        catch (RegistryException ex) when (ex.Kind == RegistryErrorKind.Conflict)
        {
            return; // someone else (another node) registered it
        }

        var staged = Path.Combine(Path.GetTempPath(), $"maas-demo-llm-{Guid.NewGuid():N}.gguf");
        try
        {
            Write(staged);
            await using var draft = await registry.BeginVersionAsync(Name, new NewVersionOptions { CreatedBy = "maas", Metadata = new Dictionary<string, string> { ["demo"] = "plumbing demo, random weights" } }, cancellationToken);
            await using (var content = File.OpenRead(staged))
            {
                await draft.AddFileAsync("demo-llm.gguf", content, null, cancellationToken);
            }

            await registry.CommitVersionAsync(draft, cancellationToken);
        }
        finally
        {
            File.Delete(staged);
        }
    }
}
