using Maas.Core.Formats;
using Maas.Core.Formats.Gguf;
using Maas.Core.Registry;
using Maas.Server.Hosting;

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

    /// <summary>How the demo is registered.</summary>
    public static readonly DemoSpec Spec = new(
        Name,
        MarkerFile,
        ModelFormat.Gguf,
        "Plumbing demo: a tiny Llama with random weights that answers gibberish. It shows chat completions stream "
        + "through the OpenAI API; upload a real GGUF to get real answers.",
        "text-generation",
        "demo-llm.gguf",
        Write,
        new Dictionary<string, string> { ["demo"] = "plumbing demo, random weights" });

    /// <summary>Registers the demo on the first start whose registry holds no GGUF model; returns true when it did.</summary>
    public static Task<bool> SeedAsync(IModelRegistry registry, string dataDir, CancellationToken cancellationToken) =>
        DemoSeeder.SeedAsync(registry, dataDir, Spec, cancellationToken);
}
