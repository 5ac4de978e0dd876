namespace Maas.Core.Llm;

/// <summary>Why a generation ended.</summary>
public enum FinishReason
{
    /// <summary>The model produced its end token or a stop string (OpenAI "stop").</summary>
    Stop,

    /// <summary>max_tokens or the context ran out (OpenAI "length").</summary>
    Length,
}

/// <summary>Token counts of one request; cached prompt tokens were reused from the prefix cache, not recomputed.</summary>
/// <param name="PromptTokens">Tokens in the prompt.</param>
/// <param name="CompletionTokens">Tokens generated.</param>
/// <param name="CachedPromptTokens">Prompt tokens whose KV came from the prefix cache.</param>
public sealed record LlmUsage(int PromptTokens, int CompletionTokens, int CachedPromptTokens)
{
    /// <summary>Prompt plus completion.</summary>
    public int TotalTokens => PromptTokens + CompletionTokens;

    /// <summary>The sum of several usages (n &gt; 1 choices share one prompt, counted once).</summary>
    public static LlmUsage Combine(IReadOnlyList<LlmUsage> parts) =>
        parts.Count == 0
            ? new LlmUsage(0, 0, 0)
            : new LlmUsage(parts[0].PromptTokens, parts.Sum(p => p.CompletionTokens), parts[0].CachedPromptTokens);
}

/// <summary>One alternative token at a position and its log probability.</summary>
/// <param name="TokenId">The vocabulary id.</param>
/// <param name="Token">The token's text (may be a partial UTF-8 character, see <paramref name="Bytes"/>).</param>
/// <param name="Bytes">The token's exact bytes.</param>
/// <param name="Logprob">Natural log of its probability under the model.</param>
public sealed record TopLogprob(int TokenId, string Token, byte[] Bytes, float Logprob);

/// <summary>A generated token with its log probability and the most likely alternatives at its position.</summary>
/// <param name="TokenId">The vocabulary id.</param>
/// <param name="Token">The token's text.</param>
/// <param name="Bytes">The token's exact bytes.</param>
/// <param name="Logprob">Natural log of its probability under the model.</param>
/// <param name="Top">The most likely tokens at this position, best first.</param>
public sealed record TokenLogprob(int TokenId, string Token, byte[] Bytes, float Logprob, IReadOnlyList<TopLogprob> Top)
{
    /// <summary>True for a token without a log probability: a prompt's first (NaN, no alternatives).</summary>
    public bool Unscored => float.IsNaN(Logprob);
}

/// <summary>What a generation streams: text as it is decided, and at the end the reason and the usage.</summary>
public sealed record GenerationEvent
{
    /// <summary>New text (may be empty while a possible stop string is held back).</summary>
    public string Text { get; init; } = "";

    /// <summary>The tokens behind <see cref="Text"/> when logprobs were requested.</summary>
    public IReadOnlyList<TokenLogprob>? Logprobs { get; init; }

    /// <summary>
    /// With <see cref="GenerationRequest.PromptLogprobs"/>: every prompt token in order, on an event of its own ahead of
    /// any generated text. Each holds the log probability of that token after the ones before it and the most likely
    /// alternatives there; the first has nothing before it, so its <see cref="TokenLogprob.Logprob"/> is NaN and its
    /// <see cref="TokenLogprob.Top"/> empty (see <see cref="TokenLogprob.Unscored"/>).
    /// </summary>
    public IReadOnlyList<TokenLogprob>? PromptLogprobs { get; init; }

    /// <summary>Set on the last event only.</summary>
    public FinishReason? Finish { get; init; }

    /// <summary>
    /// With <see cref="GenerationRequest.ReturnTokens"/>, on the last event only: the generated token ids in order,
    /// without the end-of-generation token; when a stop string ended the text, the tokens whose text begins in the
    /// text returned.
    /// </summary>
    public IReadOnlyList<int>? Tokens { get; init; }

    /// <summary>Set on the last event only.</summary>
    public LlmUsage? Usage { get; init; }
}
