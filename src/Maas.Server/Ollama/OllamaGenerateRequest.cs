using Maas.Server.OpenAi;

namespace Maas.Server.Ollama;

/// <summary>
/// A parsed <c>POST /api/generate</c> body; an empty prompt asks only for the model to be loaded. <c>Context</c>: the
/// token ids an earlier answer returned, to go on from (none: empty).
/// </summary>
internal sealed record OllamaGenerateRequest(GenerationParameters Parameters, string Prompt, string? System, bool Raw, OllamaKeepAlive? KeepAlive, IReadOnlyList<int> Context);
