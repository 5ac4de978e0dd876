using Maas.Core.Llm;

namespace Maas.Server.Deployments;

/// <summary>Warms a version of a language model before it takes traffic (<see cref="TextVersionRuns"/>, registered with language-model serving).</summary>
public interface ITextVersionWarmUp
{
    /// <summary>Loads <paramref name="version"/> of <paramref name="model"/> (a model key) and generates a few tokens from a short prompt.</summary>
    /// <exception cref="LlmException">It could not be loaded or did not generate.</exception>
    Task WarmUpAsync(string model, int version, CancellationToken cancellationToken);
}
