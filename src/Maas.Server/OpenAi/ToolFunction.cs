using System.Text.Json;

namespace Maas.Server.OpenAi;

/// <summary>One function a chat request offers the model (<c>tools[i].function</c>).</summary>
internal sealed record ToolFunction(string Name, string? Description, JsonElement? Parameters);
