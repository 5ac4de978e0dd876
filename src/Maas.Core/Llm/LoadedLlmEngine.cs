namespace Maas.Core.Llm;

/// <summary>A loaded engine as the manager sees it.</summary>
/// <param name="Name">The model name.</param>
/// <param name="Version">The model version.</param>
/// <param name="Engine">The engine.</param>
/// <param name="ActiveRequests">Requests holding it now.</param>
/// <param name="IdleSince">When the last request let go (null while requests run).</param>
/// <param name="Spec">How it was loaded and is served.</param>
public sealed record LoadedLlmEngine(string Name, int Version, ILlmEngine Engine, int ActiveRequests, DateTimeOffset? IdleSince, LlmModelSpec Spec);
