namespace Maas.Core.Llm;

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
