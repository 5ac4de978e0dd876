namespace Maas.Core.Llm;

/// <summary>Decides how many tokens a request may generate, and refuses prompts that do not fit.</summary>
public static class GenerationLimits
{
    /// <summary>
    /// The completion length for a prompt of <paramref name="promptTokens"/>: the requested max_tokens, else what
    /// is left of the slot's context (capped by <paramref name="maxPerRequest"/>, 0 = no cap).
    /// </summary>
    /// <param name="promptTokens">The prompt's length in tokens.</param>
    /// <param name="requestedMaxTokens">The completion length asked for, if any.</param>
    /// <param name="contextPerSlot">The context of one sequence.</param>
    /// <param name="maxPerRequest">The server's cap on generated tokens per request (0 = none).</param>
    /// <param name="param">The parameter that asked for the completion length.</param>
    /// <param name="promptParam">The parameter that held the prompt: <c>messages</c> (chat) or <c>prompt</c> (completions).</param>
    /// <exception cref="LlmException">The prompt plus the requested completion exceeds the context (400 with the numbers).</exception>
    public static int Resolve(int promptTokens, int? requestedMaxTokens, int contextPerSlot, int maxPerRequest, string param = "max_tokens", string promptParam = "messages")
    {
        if (requestedMaxTokens is { } asked && maxPerRequest > 0 && asked > maxPerRequest)
        {
            throw LlmException.Invalid($"'{param}' is {asked}, but this server allows at most {maxPerRequest} generated tokens per request (Maas:Llm:MaxTokensPerRequest)", param,
                "max_tokens_exceeded");
        }

        if (promptTokens >= contextPerSlot || (requestedMaxTokens is { } wanted && promptTokens + wanted > contextPerSlot))
        {
            var completion = requestedMaxTokens ?? 1;
            throw new LlmException(
                LlmErrorKind.ContextOverflow,
                $"This model's maximum context length is {contextPerSlot} tokens. However, you requested {promptTokens + completion} tokens "
                + $"({promptTokens} in the {promptParam}, {completion} in the completion). Please reduce the length of the {promptParam} or completion.",
                promptParam,
                "context_length_exceeded");
        }

        var left = contextPerSlot - promptTokens;
        var max = requestedMaxTokens ?? left;
        return maxPerRequest > 0 ? Math.Min(max, maxPerRequest) : max;
    }
}
