using Maas.Core.Llm;
using Maas.Core.Registry;

namespace Maas.Server.OpenAi;

/// <summary>Tells the registry a GGUF version is in use while LLM requests run on it (deleting it then needs force).</summary>
/// <remarks>An idle loaded engine does not count: it unloads on its own when its version is deleted.</remarks>
internal sealed class LlmVersionUseCheck(LlmEngineManager manager) : IVersionUseCheck
{
    public ValueTask<string?> GetUseAsync(ModelVersion version, CancellationToken cancellationToken)
    {
        var loaded = manager.Loaded().FirstOrDefault(l => l.Name == version.Model && l.Version == version.Version);
        return ValueTask.FromResult(loaded is { ActiveRequests: > 0 } busy ? $"{busy.ActiveRequests} LLM request(s) are running on it" : null);
    }
}
