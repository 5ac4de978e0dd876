namespace Maas.Runtimes.Llama.Training;

/// <summary>One chat to train on: the messages in order; only the assistant messages' tokens count in the loss.</summary>
/// <param name="Messages">The chat's messages.</param>
public sealed record LlamaTrainingChat(IReadOnlyList<LlamaChatMessage> Messages);
