using Maas.Core.Llm;

namespace Maas.Server.OpenAi;

/// <summary>What chat completions and completions share: the model, sampling, limits, stops and output shape.</summary>
internal sealed record GenerationParameters
{
    public required string Model { get; init; }

    /// <summary>Where the prompt came from: <c>messages</c> (chat) or <c>prompt</c> (completions); a prompt too long names it.</summary>
    public string PromptParam { get; init; } = "messages";

    public int? MaxTokens { get; init; }

    public string MaxTokensParam { get; init; } = "max_tokens";

    public int N { get; init; } = 1;

    public IReadOnlyList<string> Stop { get; init; } = [];

    public required SamplingOptions Sampling { get; init; }

    /// <summary>Token ids as the caller wrote them; checked against the vocabulary once the model is loaded.</summary>
    public IReadOnlyDictionary<int, float> LogitBias { get; init; } = new Dictionary<int, float>();

    public bool Logprobs { get; init; }

    public int TopLogprobs { get; init; }

    public string? Grammar { get; init; }

    public bool Stream { get; init; }

    /// <summary>Ask the engine for the generated token ids on the last event (Ollama's <c>context</c>).</summary>
    public bool ReturnTokens { get; init; }

    public bool IncludeUsage { get; init; }

    public string? User { get; init; }
}

/// <summary>A parsed <c>POST /v1/chat/completions</c> body.</summary>
internal sealed record ChatCompletionRequest(GenerationParameters Parameters, IReadOnlyList<ChatMessage> Messages, ToolSelection? Tools = null);

/// <summary>A parsed <c>POST /v1/completions</c> body: one or more prompts, as text or as token ids.</summary>
internal sealed record CompletionRequest(GenerationParameters Parameters, IReadOnlyList<PromptInput> Prompts, bool Echo);

/// <summary>A prompt given as text or as token ids.</summary>
internal sealed record PromptInput(string? Text, IReadOnlyList<int>? Tokens);

/// <summary>A parsed <c>POST /v1/embeddings</c> body.</summary>
internal sealed record EmbeddingRequest(string Model, IReadOnlyList<PromptInput> Inputs, bool Base64, bool Normalize, int? Dimensions, string? User);
