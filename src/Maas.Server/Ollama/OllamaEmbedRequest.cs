using Maas.Server.OpenAi;

namespace Maas.Server.Ollama;

/// <summary>A parsed <c>POST /api/embed</c> or <c>POST /api/embeddings</c> body.</summary>
internal sealed record OllamaEmbedRequest(string Model, IReadOnlyList<PromptInput> Inputs, bool Truncate, int? Dimensions, OllamaKeepAlive? KeepAlive);
