using Maas.Core.Llm;

namespace Maas.Server.OpenAi;

/// <summary>
/// Queues copies of an answered call for its deployment's shadow versions (or the stable version of a comparing
/// canary). A service of its own, apart from <see cref="LlmGenerationService"/>, because the copies generate through it.
/// </summary>
internal sealed class LlmShadowCopies(Deployments.ShadowQueue queue, Deployments.TextVersionRuns runs)
{
    /// <summary>
    /// After a live answer was written whole: queues the copies, each rendering the same request with
    /// <paramref name="prompts"/> for its own engine; they run later and never touch this response.
    /// </summary>
    public void Offer(LlmSession session, GenerationParameters p, Func<ILlmEngine, IReadOnlyList<Deployments.TextPrompt>> prompts)
    {
        if (session.CopiesFor is { } route)
        {
            queue.OfferText(route, session.Texts, (version, cancellationToken) => runs.GenerateAsync(route.Deployment.Model, version, p, prompts, cancellationToken));
        }
    }
}
