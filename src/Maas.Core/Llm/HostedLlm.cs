using Maas.Core.Hosting;

namespace Maas.Core.Llm;

/// <summary>A loaded LLM: its engine (with its continuous-batching loop).</summary>
public sealed class HostedLlm(ILlmEngine engine, LlmModelSpec spec) : IHostedModel
{
    /// <summary>The engine.</summary>
    public ILlmEngine Engine { get; } = engine;

    /// <summary>How it was loaded and is served.</summary>
    public LlmModelSpec Spec { get; } = spec;

    /// <inheritdoc />
    public string ArtifactPath => Spec.Path;

    /// <inheritdoc />
    public long EngineMemoryBytes => Engine.GetStatistics().MemoryBytes;

    /// <inheritdoc />
    public ValueTask DisposeAsync() => Engine.DisposeAsync();
}
