namespace Maas.Core.Llm;

/// <summary>One completion to generate: the prompt as tokens, how long, when to stop, how to sample.</summary>
public sealed record GenerationRequest
{
    /// <summary>The prompt, already tokenized with the model's vocabulary (special tokens included).</summary>
    public required IReadOnlyList<int> PromptTokens { get; init; }

    /// <summary>The most tokens to generate (0: none, the prompt is only evaluated); the caller has checked it fits the context.</summary>
    public required int MaxTokens { get; init; }

    /// <summary>Strings that end the generation; the text from the stop string on is not returned.</summary>
    public IReadOnlyList<string> Stop { get; init; } = [];

    /// <summary>How tokens are sampled.</summary>
    public SamplingOptions Sampling { get; init; } = new();

    /// <summary>A GBNF grammar (start rule <c>root</c>) that every generated token must keep satisfiable.</summary>
    public string? Grammar { get; init; }

    /// <summary>Return each generated token's log probability.</summary>
    public bool Logprobs { get; init; }

    /// <summary>How many alternatives to return per position with <see cref="Logprobs"/> or <see cref="PromptLogprobs"/> (0..20).</summary>
    public int TopLogprobs { get; init; }

    /// <summary>
    /// Also return the log probability of each prompt token given the tokens before it, with
    /// <see cref="TopLogprobs"/> alternatives (<see cref="GenerationEvent.PromptLogprobs"/>). The whole prompt is then
    /// decoded with logits at every position: no cached prefix is reused for it.
    /// </summary>
    /// <remarks>With <see cref="MaxTokens"/> 0 the prompt is scored and nothing is generated (finish "length").</remarks>
    public bool PromptLogprobs { get; init; }

    /// <summary>
    /// Also return the generated token ids on the last event (<see cref="GenerationEvent.Tokens"/>), so a caller can
    /// continue exactly from the tokens the model saw (Ollama's <c>context</c>).
    /// </summary>
    public bool ReturnTokens { get; init; }

    /// <summary>An identifier for logs and statistics.</summary>
    public string RequestId { get; init; } = "";

    /// <summary>Counts tokens as the engine samples them (null: nobody is counting).</summary>
    public GenerationProgress? Progress { get; init; }
}
