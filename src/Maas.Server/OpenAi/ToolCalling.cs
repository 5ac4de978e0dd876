using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Maas.Core.Llm;

namespace Maas.Server.OpenAi;

/// <summary>
/// Function calling for models without a tool-aware chat template: the functions are described in a system message
/// that asks for a JSON reply of one shape, <c>{"tool_calls": [{"name", "arguments"}]}</c>; a forced choice holds the
/// model to that shape with a grammar built from the functions' parameter schemas, and a reply of that shape comes
/// back as OpenAI <c>tool_calls</c> with <c>finish_reason: "tool_calls"</c>.
/// </summary>
internal static class ToolCalling
{
    /// <summary>
    /// Reads <c>tools</c> (at most <paramref name="maxTools"/> functions), <c>tool_choice</c> and
    /// <c>parallel_tool_calls</c>; null when no tool may be called.
    /// </summary>
    public static ToolSelection? Read(JsonElement body, int maxTools)
    {
        var hasTools = body.TryGetProperty("tools", out var tools) && tools.ValueKind != JsonValueKind.Null;
        var functions = new List<ToolFunction>();
        if (hasTools)
        {
            if (tools.ValueKind != JsonValueKind.Array)
            {
                throw LlmException.Invalid("'tools' must be an array of {\"type\": \"function\", \"function\": {...}}", "tools");
            }

            var i = 0;
            foreach (var tool in tools.EnumerateArray())
            {
                functions.Add(ReadFunction(tool, $"tools[{i++}]"));
            }

            if (functions.Count > maxTools)
            {
                throw LlmException.Invalid($"'tools' holds {functions.Count} functions; at most {maxTools} are allowed (Maas:Llm:MaxTools)", "tools");
            }

            var seen = new HashSet<string>(StringComparer.Ordinal);
            for (var k = 0; k < functions.Count; k++)
            {
                if (!seen.Add(functions[k].Name))
                {
                    // The later one is at fault: the path names it, as every other refusal names the exact place.
                    throw LlmException.Invalid($"'tools[{k}].function.name' names the function '{functions[k].Name}', which an earlier tool already names",
                        $"tools[{k}].function.name");
                }
            }
        }

        var mode = functions.Count > 0 ? "auto" : "none";
        string? forced = null;
        if (body.TryGetProperty("tool_choice", out var choice) && choice.ValueKind != JsonValueKind.Null)
        {
            switch (choice.ValueKind)
            {
                case JsonValueKind.String when choice.GetString() is "none" or "auto" or "required":
                    mode = choice.GetString()!;
                    break;
                case JsonValueKind.Object:
                    forced = ReadForced(choice);
                    mode = "function";
                    break;
                default:
                    throw LlmException.Invalid("'tool_choice' must be none, auto, required or {\"type\": \"function\", \"function\": {\"name\": ...}}", "tool_choice");
            }

            if (mode != "none" && functions.Count == 0)
            {
                throw LlmException.Invalid($"'tool_choice' is {(forced is null ? mode : "a function")}, but the request has no 'tools'", "tool_choice");
            }

            if (forced is not null && functions.All(fn => fn.Name != forced))
            {
                throw LlmException.Invalid($"'tool_choice.function.name' names the function '{forced}', which is not in 'tools'", "tool_choice.function.name");
            }
        }

        // A string "false" would otherwise read as true and allow several calls.
        var parallel = !body.TryGetProperty("parallel_tool_calls", out var p) || p.ValueKind switch
        {
            JsonValueKind.Null or JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw LlmException.Invalid("'parallel_tool_calls' must be true or false", "parallel_tool_calls"),
        };
        return mode == "none" ? null : new ToolSelection(functions, mode, forced, parallel && forced is null);
    }

    /// <summary>The system message that describes the functions and the reply shape that calls them.</summary>
    public static string Instructions(ToolSelection tools)
    {
        var s = new StringBuilder();
        s.Append(tools.Forcing
            ? "You must call "
            : "You may call ");
        s.Append(tools.Forced is { } name ? $"the function {name}" : "these functions")
            .Append(". To call ").Append(tools.Parallel ? "one or more" : "one")
            .Append(", reply with only this JSON and nothing else: {\"tool_calls\": [{\"name\": \"<function name>\", \"arguments\": {<the arguments its parameters describe>}}]}.");
        if (!tools.Forcing)
        {
            s.Append(" If no function helps, answer in plain text.");
        }

        s.Append("\nFunctions:");
        foreach (var f in tools.Offered)
        {
            var entry = new JsonObject { ["name"] = f.Name };
            if (f.Description is { } d)
            {
                entry["description"] = d;
            }

            entry["parameters"] = f.Parameters is { } ps ? JsonNode.Parse(ps.GetRawText()) : new JsonObject { ["type"] = "object" };
            s.Append('\n').Append(entry.ToJsonString());
        }

        return s.ToString();
    }

    /// <summary>The messages with the tool instructions added to the system message (or as one, first).</summary>
    public static IReadOnlyList<ChatMessage> WithInstructions(IReadOnlyList<ChatMessage> messages, ToolSelection tools)
    {
        var instructions = Instructions(tools);
        var list = messages.ToList();
        if (list.Count > 0 && list[0].Role == "system")
        {
            list[0] = list[0] with { Content = list[0].Content + "\n\n" + instructions };
        }
        else
        {
            list.Insert(0, new ChatMessage("system", instructions));
        }

        return list;
    }

    /// <summary>The grammar that holds a forced reply to the tool-call shape, with each function's arguments schema.</summary>
    public static string Grammar(ToolSelection tools, int maxRules = JsonSchemaGrammar.DefaultMaxRules)
    {
        var calls = new JsonArray();
        var definitions = new JsonObject();
        var index = 0;
        foreach (var f in tools.Offered)
        {
            calls.Add(new JsonObject
            {
                ["type"] = "object",
                ["properties"] = new JsonObject
                {
                    ["name"] = new JsonObject { ["const"] = f.Name },
                    ["arguments"] = f.Parameters is { } ps ? Hoist(ps, index, definitions) : new JsonObject { ["type"] = "object" },
                },
                ["required"] = new JsonArray("name", "arguments"),
                ["additionalProperties"] = false,
            });
            index++;
        }

        var array = new JsonObject { ["type"] = "array", ["items"] = new JsonObject { ["anyOf"] = calls }, ["minItems"] = 1 };
        if (!tools.Parallel)
        {
            array["maxItems"] = 1;
        }

        var schema = new JsonObject
        {
            ["type"] = "object",
            ["properties"] = new JsonObject { ["tool_calls"] = array },
            ["required"] = new JsonArray("tool_calls"),
            ["additionalProperties"] = false,
        };
        if (definitions.Count > 0)
        {
            schema["$defs"] = definitions;
        }

        try
        {
            using var document = JsonDocument.Parse(schema.ToJsonString());
            return JsonSchemaGrammar.FromSchema(document.RootElement, maxRules, "tools");
        }
        catch (LlmException e)
        {
            throw Locate(tools, e, maxRules);
        }
    }

    // A function's parameters as they sit in the combined schema: their local definitions ($defs and definitions at
    // their root, which '#/$defs/x' and '#/definitions/x' point at) move to the combined root as f{index}-$defs-x, and
    // every such reference in them is rewritten to match, so it still points at this function's own definition.
    private static JsonNode? Hoist(JsonElement parameters, int index, JsonObject definitions)
    {
        var node = JsonNode.Parse(parameters.GetRawText());
        if (node is not JsonObject root)
        {
            return node;
        }

        Rewrite(root, index);
        foreach (var kind in new[] { "$defs", "definitions" })
        {
            if (root[kind] is JsonObject local)
            {
                root.Remove(kind);
                foreach (var name in local.Select(d => d.Key).ToList())
                {
                    var definition = local[name];
                    local.Remove(name);
                    definitions[$"f{index}-{kind}-{name}"] = definition;
                }
            }
        }

        return root;
    }

    private static void Rewrite(JsonNode? node, int index)
    {
        switch (node)
        {
            case JsonObject o:
                foreach (var (key, value) in o.ToList())
                {
                    if (key == "$ref" && value is JsonValue v && v.TryGetValue<string>(out var target))
                    {
                        var parts = target.Split('/');
                        if (parts.Length == 3 && parts[0] == "#" && parts[1] is "$defs" or "definitions")
                        {
                            o[key] = $"#/$defs/f{index}-{parts[1]}-{parts[2]}";
                        }
                    }
                    else if (key is not ("const" or "enum" or "default" or "examples"))
                    {
                        // Values (const, enum, default, examples) are data, not schemas: a "$ref" in them is left alone.
                        Rewrite(value, index);
                    }
                }

                break;
            case JsonArray a:
                foreach (var item in a)
                {
                    Rewrite(item, index);
                }

                break;
        }
    }

    // A schema refused in the combined grammar is refused again on its own, so that the refusal names the function's
    // parameters (tools[i].function.parameters) and the place inside them; a problem only the whole has (too many rules
    // together) stays under 'tools'.
    private static LlmException Locate(ToolSelection tools, LlmException combined, int maxRules)
    {
        for (var i = 0; i < tools.Functions.Count; i++)
        {
            if (tools.Functions[i].Parameters is not { } ps || (tools.Forced is { } forced && tools.Functions[i].Name != forced))
            {
                continue;
            }

            try
            {
                JsonSchemaGrammar.FromSchema(ps, maxRules, $"tools[{i}].function.parameters");
            }
            catch (LlmException e)
            {
                return e;
            }
        }

        return combined;
    }

    // tool_choice as an object: {"type": "function", "function": {"name": ...}}, each refusal at the exact place.
    private static string ReadForced(JsonElement choice)
    {
        // Required, as a tool's own type is (OpenAI's API refuses a choice without it too).
        choice.TryGetProperty("type", out var type);
        if (type.ValueKind != JsonValueKind.String || type.GetString() != "function")
        {
            throw OpenAiRequestReader.Required(type, "tool_choice.type", "'function'");
        }

        if (!choice.TryGetProperty("function", out var f) || f.ValueKind != JsonValueKind.Object)
        {
            throw OpenAiRequestReader.Required(f, "tool_choice.function", "an object {\"name\": ...} when 'tool_choice' is an object");
        }

        return f.TryGetProperty("name", out var n) && n.ValueKind == JsonValueKind.String
            ? n.GetString()!
            : throw OpenAiRequestReader.Required(n, "tool_choice.function.name", "a string");
    }

    /// <summary>
    /// Reads a reply as tool calls when it is exactly the tool-call shape naming offered functions; null when it is
    /// an ordinary answer.
    /// </summary>
    public static IReadOnlyList<ToolCall>? Parse(string text, ToolSelection tools)
    {
        var trimmed = text.Trim();
        if (!trimmed.StartsWith('{'))
        {
            return null;
        }

        try
        {
            using var document = JsonDocument.Parse(trimmed);
            if (!document.RootElement.TryGetProperty("tool_calls", out var array) || array.ValueKind != JsonValueKind.Array || array.GetArrayLength() == 0)
            {
                return null;
            }

            var calls = new List<ToolCall>();
            foreach (var call in array.EnumerateArray())
            {
                if (call.ValueKind != JsonValueKind.Object
                    || !call.TryGetProperty("name", out var name) || name.ValueKind != JsonValueKind.String
                    || tools.Functions.All(f => f.Name != name.GetString()))
                {
                    return null;
                }

                var arguments = call.TryGetProperty("arguments", out var a) ? a.GetRawText() : "{}";
                calls.Add(new ToolCall("call_" + Guid.NewGuid().ToString("N")[..24], name.GetString()!, arguments));
            }

            return calls;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    /// <summary>An assistant turn's OpenAI <c>tool_calls</c> as the reply text that would have made them.</summary>
    public static string ReplyText(JsonElement toolCalls)
    {
        var array = new JsonArray();
        foreach (var call in toolCalls.EnumerateArray())
        {
            if (call.ValueKind != JsonValueKind.Object || !call.TryGetProperty("function", out var f) || f.ValueKind != JsonValueKind.Object)
            {
                continue;
            }

            var name = f.TryGetProperty("name", out var n) && n.ValueKind == JsonValueKind.String ? n.GetString() : null;
            JsonNode? arguments = null;
            if (f.TryGetProperty("arguments", out var a))
            {
                try
                {
                    arguments = a.ValueKind == JsonValueKind.String ? JsonNode.Parse(a.GetString()!) : JsonNode.Parse(a.GetRawText());
                }
                catch (JsonException)
                {
                    arguments = a.ValueKind == JsonValueKind.String ? a.GetString() : null;
                }
            }

            array.Add(new JsonObject { ["name"] = name, ["arguments"] = arguments ?? new JsonObject() });
        }

        return new JsonObject { ["tool_calls"] = array }.ToJsonString();
    }

    /// <summary>
    /// The first character of a streamed piece that is not white space, or null: a reply whose first such character is
    /// '{' may be tool calls (its text is held back); any other is an answer.
    /// </summary>
    public static char? FirstVisible(string piece)
    {
        foreach (var c in piece)
        {
            if (!char.IsWhiteSpace(c))
            {
                return c;
            }
        }

        return null;
    }

    /// <summary>Writes <c>tool_calls</c> as OpenAI's message (and, with indexes, delta) shape.</summary>
    public static void Write(Utf8JsonWriter json, IReadOnlyList<ToolCall> calls, bool delta)
    {
        json.WriteStartArray("tool_calls");
        for (var i = 0; i < calls.Count; i++)
        {
            json.WriteStartObject();
            if (delta)
            {
                json.WriteNumber("index", i);
            }

            json.WriteString("id", calls[i].Id);
            json.WriteString("type", "function");
            json.WriteStartObject("function");
            json.WriteString("name", calls[i].Name);
            json.WriteString("arguments", calls[i].Arguments);
            json.WriteEndObject();
            json.WriteEndObject();
        }

        json.WriteEndArray();
    }

    private static ToolFunction ReadFunction(JsonElement tool, string path)
    {
        if (tool.ValueKind != JsonValueKind.Object)
        {
            throw LlmException.Invalid($"'{path}' must be {{\"type\": \"function\", \"function\": {{...}}}}", path);
        }

        if (!tool.TryGetProperty("type", out var type) || type.ValueKind != JsonValueKind.String || type.GetString() != "function")
        {
            throw OpenAiRequestReader.Required(type, path + ".type", "'function': only function tools are supported");
        }

        if (!tool.TryGetProperty("function", out var function) || function.ValueKind != JsonValueKind.Object)
        {
            throw OpenAiRequestReader.Required(function, path + ".function", "an object {\"name\", \"description\", \"parameters\"}");
        }

        var namePath = path + ".function.name";
        if (!function.TryGetProperty("name", out var n) || n.ValueKind == JsonValueKind.Null)
        {
            throw OpenAiRequestReader.Required(n, namePath, "1-64 letters, digits, underscores or dashes");
        }

        var name = n.ValueKind == JsonValueKind.String ? n.GetString()! : "";
        if (name.Length is 0 or > 64 || !name.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '-'))
        {
            throw LlmException.Invalid($"'{namePath}' must be 1-64 letters, digits, underscores or dashes", namePath);
        }

        string? description = null;
        if (function.TryGetProperty("description", out var d) && d.ValueKind != JsonValueKind.Null)
        {
            description = d.ValueKind == JsonValueKind.String ? d.GetString()
                : throw LlmException.Invalid($"'{path}.function.description' must be a string", path + ".function.description");
        }
        JsonElement? parameters = null;
        if (function.TryGetProperty("parameters", out var ps) && ps.ValueKind != JsonValueKind.Null)
        {
            parameters = ps.ValueKind == JsonValueKind.Object
                ? ps.Clone()
                : throw LlmException.Invalid($"'{path}.function.parameters' must be a JSON schema object", path + ".function.parameters");
        }

        return new ToolFunction(name, description, parameters);
    }
}
