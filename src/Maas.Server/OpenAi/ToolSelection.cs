namespace Maas.Server.OpenAi;

/// <summary>
/// The tools of a chat request and how the model may use them (<c>tool_choice</c>): <c>auto</c> lets it answer or
/// call, <c>required</c> makes it call one or more, a named function makes it call that one; <c>none</c> hides them.
/// </summary>
internal sealed record ToolSelection(IReadOnlyList<ToolFunction> Functions, string Mode, string? Forced, bool Parallel)
{
    /// <summary>True when the answer must be tool calls (enforced by grammar).</summary>
    public bool Forcing => Mode == "required" || Forced is not null;

    /// <summary>The functions the model may call: the named one when forced, else all.</summary>
    public IEnumerable<ToolFunction> Offered => Forced is null ? Functions : Functions.Where(f => f.Name == Forced);
}
