namespace Maas.Core.Llm;

/// <summary>One turn of a chat: its role (system, user, assistant, tool) and its text.</summary>
/// <param name="Role">The speaker's role.</param>
/// <param name="Content">The text of the turn.</param>
/// <param name="Name">An optional participant name.</param>
/// <param name="ToolCallId">For a tool turn: the call it answers.</param>
public sealed record ChatMessage(string Role, string Content, string? Name = null, string? ToolCallId = null)
{
    /// <summary>The roles a chat may use.</summary>
    public static readonly IReadOnlySet<string> Roles = new HashSet<string>(StringComparer.Ordinal) { "system", "developer", "user", "assistant", "tool" };
}
