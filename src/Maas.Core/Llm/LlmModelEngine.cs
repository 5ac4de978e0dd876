using Maas.Core.Formats;
using Maas.Core.Hosting;

namespace Maas.Core.Llm;

/// <summary>An LLM engine (llama.cpp) plugged into the <see cref="ModelHost"/>: loads an <see cref="ILlmEngine"/> per version.</summary>
public sealed class LlmModelEngine(ILlmEngineFactory factory) : IModelEngine
{
    /// <inheritdoc />
    public string Name => factory.Engine;

    /// <inheritdoc />
    public IReadOnlyList<ModelFormat> Formats { get; } = [ModelFormat.Gguf];

    /// <inheritdoc />
    /// <remarks>
    /// The weights (the file). The KV cache and the host prompt cache's contents are counted by the engine once loaded;
    /// the prompt cache's budget is a ceiling (by default a share of the machine), not what it takes.
    /// </remarks>
    public long EstimateMemoryBytes(ModelLoadRequest request)
    {
        var spec = Spec(request);
        return request.ArtifactBytes > 0 ? request.ArtifactBytes : File.Exists(spec.Path) ? new FileInfo(spec.Path).Length : 0;
    }

    /// <inheritdoc />
    public async Task<IHostedModel> LoadAsync(ModelLoadRequest request, CancellationToken cancellationToken)
    {
        var spec = Spec(request);
        return new HostedLlm(await factory.LoadAsync(spec, cancellationToken).ConfigureAwait(false), spec);
    }

    private static LlmModelSpec Spec(ModelLoadRequest request) =>
        request.Settings as LlmModelSpec ?? throw new ArgumentException("an LLM is loaded with an LlmModelSpec", nameof(request));
}
