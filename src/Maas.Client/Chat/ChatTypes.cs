using System.Text.Json.Nodes;
using System.Text.Json.Serialization;

namespace Maas.Client.Chat;

/// <summary>One message of a chat.</summary>
public sealed record ChatMessage(string Role, string? Content);

/// <summary>An OpenAI-compatible chat request.</summary>
public sealed record ChatRequest(string Model, IReadOnlyList<ChatMessage> Messages)
{
    public int? MaxTokens { get; init; }

    public double? Temperature { get; init; }

    public double? TopP { get; init; }

    public long? Seed { get; init; }

    public JsonObject? ResponseFormat { get; init; }

    /// <summary>Generate until max_tokens even past an end-of-generation token (the server's extension, as in vLLM).</summary>
    [JsonPropertyName("ignore_eos")]
    public bool? IgnoreEos { get; init; }

    /// <summary>Set by the client: true for the streaming call.</summary>
    public bool? Stream { get; init; }

    [JsonPropertyName("stream_options")]
    public JsonObject? StreamOptions { get; init; }
}

/// <summary>Token counts of a chat.</summary>
public sealed record ChatUsage(int PromptTokens, int CompletionTokens, int TotalTokens);

/// <summary>A piece of a streamed chat: text and, on the last pieces, why it ended and the usage.</summary>
public sealed record ChatDelta(string? Content, string? FinishReason, ChatUsage? Usage);

/// <summary>A whole chat answer.</summary>
public sealed record ChatResult(string Model, string Content, string? FinishReason, ChatUsage? Usage);
