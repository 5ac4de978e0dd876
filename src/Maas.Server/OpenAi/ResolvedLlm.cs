using Maas.Core.Hosting;
using Maas.Core.Llm;
using Maas.Core.Registry;

namespace Maas.Server.OpenAi;

/// <summary>A resolved LLM: how to load it and how long to keep it loaded when idle.</summary>
internal sealed record ResolvedLlm(LlmModelSpec Spec, TimeSpan KeepAlive, Model Model, ModelVersion Version)
{
    /// <summary>How the model host loads and keeps it (with its pin and file size for the memory budget).</summary>
    public ModelLoadRequest Request => LlmEngineManager.RequestFor(Spec, KeepAlive, Model.ServingConfig.Pinned == true, Version.SizeBytes, Version.ArtifactKey);
}
