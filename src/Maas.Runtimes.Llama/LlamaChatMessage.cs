namespace Maas.Runtimes.Llama;

/// <summary>One message of a chat for template formatting.</summary>
/// <param name="Role">"system", "user", "assistant", "tool", ...</param>
/// <param name="Content">The message text.</param>
public sealed record LlamaChatMessage(string Role, string Content);
