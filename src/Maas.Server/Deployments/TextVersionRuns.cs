using System.Globalization;
using System.Text;
using Maas.Core.Llm;
using Maas.Server.OpenAi;
using Microsoft.Extensions.Options;

namespace Maas.Server.Deployments;

/// <summary>
/// Runs text generations on a given version of a language model, outside any client's call: a shadow copy of a live
/// OpenAI call (the same messages or prompts, rendered and tokenized by that version's own engine, with the same
/// sampling, generated whole and never streamed), and the short generation that warms a version before it takes
/// traffic. These runs hold the engine and the server's token budget like a live call, but are billed to nobody.
/// </summary>
internal sealed class TextVersionRuns(LlmModelResolver resolver, LlmEngineManager engines, LlmGenerationService generation, TokenBudget budget,
    IOptions<LlmServingOptions> options) : ITextVersionWarmUp
{
    /// <summary>The most tokens a warm-up generates.</summary>
    public const int WarmUpTokens = 2;

    /// <summary>Loads <paramref name="version"/> of <paramref name="model"/> (a model key) and generates a few tokens from a short prompt.</summary>
    /// <exception cref="LlmException">It could not be loaded or did not generate.</exception>
    public async Task WarmUpAsync(string model, int version, CancellationToken cancellationToken)
    {
        var resolved = await resolver.ResolveAsync($"{model}/versions/{version.ToString(CultureInfo.InvariantCulture)}", cancellationToken);
        using var lease = await engines.AcquireAsync(resolved.Request, cancellationToken);
        var engine = lease.Engine;
        var tokens = engine.Tokenize("Hello", addSpecial: true, parseSpecial: false);
        IReadOnlyList<int> prompt = tokens.Count > 0 ? tokens : [0];
        using var reservation = budget.Reserve(prompt.Count + WarmUpTokens);
        var request = new GenerationRequest { PromptTokens = prompt, MaxTokens = WarmUpTokens, RequestId = "warm-up-" + Guid.NewGuid().ToString("N") };
        await foreach (var _ in generation.Start(engine, [request], cancellationToken))
        {
            // Only that it answers counts.
        }
    }

    /// <summary>
    /// The text per choice that <paramref name="version"/> of <paramref name="model"/> (a model key) generates for the
    /// copied call; null when the engine's queue or the token budget is full (the copy is dropped, not failed).
    /// </summary>
    public async Task<IReadOnlyList<string>?> GenerateAsync(string model, int version, GenerationParameters p, Func<ILlmEngine, IReadOnlyList<TextPrompt>> prompts,
        CancellationToken cancellationToken)
    {
        var resolved = await resolver.ResolveAsync($"{model}/versions/{version.ToString(CultureInfo.InvariantCulture)}", cancellationToken);
        var requests = new List<GenerationRequest>();
        var reservations = new List<IDisposable>();
        try
        {
            using var lease = await engines.AcquireAsync(resolved.Request, cancellationToken);
            var engine = lease.Engine;
            var id = "shadow-" + Guid.NewGuid().ToString("N");
            foreach (var prompt in prompts(engine))
            {
                LlmGenerationService.Check(engine, prompt.Tokens, p);
                var maxTokens = GenerationLimits.Resolve(prompt.Tokens.Count, p.MaxTokens, engine.Info.ContextPerSlot, options.Value.MaxTokensPerRequest, p.MaxTokensParam);
                reservations.Add(budget.Reserve((long)(prompt.Tokens.Count + maxTokens) * p.N));
                requests.AddRange(LlmGenerationService.Choices(prompt.Tokens, p with { Logprobs = false, TopLogprobs = 0 }, maxTokens, prompt.ExtraStops, $"{id}/{requests.Count}",
                    () => null));
            }

            var texts = requests.Select(_ => new StringBuilder()).ToArray();
            await foreach (var choice in generation.Start(engine, requests, cancellationToken))
            {
                texts[choice.Index].Append(choice.Event.Text);
            }

            return [.. texts.Select(t => t.ToString())];
        }
        catch (LlmException e) when (e.Kind == LlmErrorKind.QueueFull)
        {
            return null; // busy (engine queue, token budget or memory quota full), not broken: live calls come first
        }
        finally
        {
            foreach (var r in reservations)
            {
                r.Dispose();
            }
        }
    }
}
