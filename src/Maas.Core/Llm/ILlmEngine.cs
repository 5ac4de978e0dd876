namespace Maas.Core.Llm;

/// <summary>A loaded LLM that generates and embeds: one engine per model version, shared by all its requests.</summary>
/// <remarks>
/// Requests submitted at any time join the running batch; each generation streams its events as tokens are sampled
/// and frees its sequence when the caller cancels. Implementations are thread-safe.
/// </remarks>
public interface ILlmEngine : IAsyncDisposable
{
    /// <summary>What the model is and how the engine runs it.</summary>
    LlmModelInfo Info { get; }

    /// <summary>Tokenizes text; <paramref name="addSpecial"/> adds BOS when the model wants it, <paramref name="parseSpecial"/> turns special-token text into special
    /// tokens.</summary>
    IReadOnlyList<int> Tokenize(string text, bool addSpecial, bool parseSpecial);

    /// <summary>The text of one token (for logit_bias checks and logprobs).</summary>
    string TokenText(int token);

    /// <summary>The text of a token sequence, characters split across tokens joined whole; special tokens shown only with <paramref name="renderSpecial"/>.</summary>
    string Detokenize(IReadOnlyList<int> tokens, bool renderSpecial);

    /// <summary>Renders a chat with the model's template (or the documented default) ending with the assistant's turn opened.</summary>
    string FormatChat(IReadOnlyList<ChatMessage> messages);

    /// <summary>Queues a generation; throws <see cref="LlmException"/> (queue full) at once when it cannot wait.</summary>
    IAsyncEnumerable<GenerationEvent> GenerateAsync(GenerationRequest request, CancellationToken cancellationToken);

    /// <summary>
    /// Queues generations that start together (the n choices of one call): the engine admits them at the same step,
    /// or throws <see cref="LlmException"/> (queue full) with none of them queued. One event stream per request.
    /// </summary>
    IReadOnlyList<IAsyncEnumerable<GenerationEvent>> GenerateTogether(IReadOnlyList<GenerationRequest> requests, CancellationToken cancellationToken);

    /// <summary>Pooled embeddings of token sequences, one vector each, L2-normalised when asked.</summary>
    Task<IReadOnlyList<float[]>> EmbedAsync(IReadOnlyList<IReadOnlyList<int>> inputs, bool normalize, CancellationToken cancellationToken);

    /// <summary>A snapshot of the engine's counters.</summary>
    LlmEngineStatistics GetStatistics();
}
