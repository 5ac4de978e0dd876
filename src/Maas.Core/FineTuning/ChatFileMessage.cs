namespace Maas.Core.FineTuning;

/// <summary>One message of a training chat.</summary>
/// <param name="Role">"system", "user" or "assistant".</param>
/// <param name="Content">The message text.</param>
public sealed record ChatFileMessage(string Role, string Content);
