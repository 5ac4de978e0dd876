namespace Maas.Server.OpenAi;

/// <summary>A tool call read from the model's output.</summary>
internal sealed record ToolCall(string Id, string Name, string Arguments);
