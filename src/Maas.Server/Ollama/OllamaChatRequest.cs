using Maas.Core.Llm;
using Maas.Server.OpenAi;

namespace Maas.Server.Ollama;

/// <summary>A parsed <c>POST /api/chat</c> body; no messages asks only for the model to be loaded.</summary>
internal sealed record OllamaChatRequest(GenerationParameters Parameters, IReadOnlyList<ChatMessage> Messages, ToolSelection? Tools, OllamaKeepAlive? KeepAlive);
