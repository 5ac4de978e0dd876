using Maas.Core.Formats;
using Maas.Core.Llm;
using Maas.Core.Registry;
using Maas.Optimization;
using Microsoft.Extensions.Options;

namespace Maas.Server.OpenAi;

/// <summary>
/// Resolves a model reference by key (<c>name</c> or <c>owner/name</c>, with <c>:alias</c> or <c>/versions/N</c>; the
/// caller's OpenAI <c>model</c> field after the model directory resolved it) through the registry to a GGUF to load.
/// </summary>
internal sealed class LlmModelResolver(IModelRegistry registry, IOptions<LlmServingOptions> options, IOptions<ServingLimits> limits, IOptions<OptimizationOptions> optimization)
{
    public async Task<ResolvedLlm> ResolveAsync(string model, CancellationToken cancellationToken)
    {
        if (!ModelReference.TryParse(model, out var reference))
        {
            throw new LlmException(LlmErrorKind.NotFound, $"The model '{Shorten(model)}' does not exist: name a model in the registry as {ModelReference.Forms}", "model",
                "model_not_found");
        }

        return await ResolveAsync(reference, model, cancellationToken);
    }

    /// <summary>Resolves a parsed reference (<paramref name="model"/> is how the caller wrote it, for messages).</summary>
    public async Task<ResolvedLlm> ResolveAsync(ModelReference reference, string model, CancellationToken cancellationToken)
    {
        ResolvedVersion resolved;
        string path;
        try
        {
            resolved = await registry.ResolveAsync(reference, cancellationToken);
            if (resolved.Version.Format != ModelFormat.Gguf)
            {
                throw new LlmException(
                    LlmErrorKind.NotFound,
                    $"The model '{model}' is not a language model (its version {resolved.Version.Version} is {resolved.Version.Format.ToString().ToUpperInvariant()}, not " +
                    $"GGUF); serve it through /v2 instead",
                    "model",
                    "model_not_found");
            }

            if (Optimization.RejectedVersions.Refusal(optimization.Value, resolved.Version) is { } refusal)
            {
                throw new LlmException(LlmErrorKind.InvalidRequest, refusal, "model", "model_rejected");
            }

            path = await registry.GetLocalArtifactPathAsync(resolved.Version, cancellationToken);
        }
        catch (RegistryException ex)
        {
            throw OpenAiErrors.FromRegistry(ex, Shorten(model));
        }

        var o = options.Value;
        var config = resolved.Model.ServingConfig;
        var max = limits.Value;

        // A configuration stored before the maxima were lowered is held to them here, where the engine is sized.
        var slots = config.ParallelSequences is { } p ? Math.Min(p, max.MaxParallelSequences) : o.Slots;
        var contextPerSlot = config.ContextSize is > 0 and var ctx ? Math.Min(ctx, max.MaxContextSize) : o.ContextPerSlot;
        if ((config.ParallelSequences is not null || config.ContextSize is > 0) && (long)slots * contextPerSlot > max.MaxKvTokens)
        {
            contextPerSlot = (int)Math.Max(1, max.MaxKvTokens / slots);
        }

        var spec = new LlmModelSpec
        {
            Name = resolved.Model.Key,
            Version = resolved.Version.Version,
            Path = path,
            Slots = slots,
            ContextPerSlot = contextPerSlot,
            BatchSize = o.BatchSize,
            QueueLimit = config.QueueLimit is { } q ? Math.Min(q, max.MaxQueueLimit) : o.QueueLimit,
            EmbeddingQueueLimit = config.EmbeddingQueueLimit is { } eq ? Math.Min(eq, max.MaxQueueLimit) : o.EmbeddingQueueLimit,
            EmbeddingQueueTimeoutMs = config.EmbeddingQueueTimeoutMs is { } et ? Math.Min(et, max.MaxTimeoutMs) : o.EmbeddingQueueTimeoutMs,
            Threads = config.Threads is { } t ? Math.Min(t, max.MaxThreads) : o.Threads,
            PrefixCache = o.PrefixCache,
            UnifiedKvCache = o.UnifiedKvCache,
            PromptAdmission = o.PromptAdmission,
            PromptChunkTokens = o.PromptChunkTokens,
            PromptBurstPrompts = o.PromptBurstPrompts,
            PromptCacheBytes = o.PrefixCache ? o.EffectivePromptCacheBytes : 0,
            PromptCacheSpareBuffers = o.PromptCacheSpareBuffers,
            PromptReuseByText = o.PrefixCache && o.PromptReuseByText,
        };
        var keepAlive = TimeSpan.FromSeconds(config.KeepAliveSeconds ?? o.KeepAliveSeconds);
        return new ResolvedLlm(spec, keepAlive, resolved.Model, resolved.Version);
    }

    private static string Shorten(string text) => text.Length <= 80 ? text : text[..80] + "...";
}
