using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace Maas.Core.Llm;

/// <summary>Turns JSON Schemas (and "any JSON object") into GBNF grammars for llama.cpp's grammar sampler.</summary>
/// <remarks>
/// Supported: type (one or several), object properties with required and optional members, additionalProperties
/// (false, true or a schema), string with minLength/maxLength, number, integer, boolean, null, enum, const, arrays
/// with items/minItems/maxItems, anyOf/oneOf, local $ref into $defs/definitions, and annotations (title,
/// description, default, examples). Anything that constrains values in a way a grammar cannot express here
/// (pattern, format, minimum, allOf, ...) is refused with the keyword and where it is, rather than silently ignored.
/// Objects are generated with their members in schema order; a member absent from "required" may be left out.
/// </remarks>
public sealed class JsonSchemaGrammar
{
    /// <summary>The request parameter that holds a response format (errors about it that are not about a schema).</summary>
    public const string Param = "response_format";

    /// <summary>The request parameter a response format's JSON Schema sits in, which schema errors name by default.</summary>
    public const string SchemaParam = "response_format.json_schema.schema";

    /// <summary>The default for the most grammar rules a schema may need once llama.cpp expands its repetitions.</summary>
    public const int DefaultMaxRules = 8192;

    private const int MaxDepth = 64;

    private static readonly HashSet<string> Annotations = new(StringComparer.Ordinal)
    {
        "title", "description", "default", "examples", "$schema", "$id", "$comment", "$anchor", "deprecated",
        "readOnly", "writeOnly", "strict",
    };

    private static readonly HashSet<string> Supported = new(StringComparer.Ordinal)
    {
        "type", "properties", "required", "additionalProperties", "items", "minItems", "maxItems", "minLength",
        "maxLength", "enum", "const", "anyOf", "oneOf", "$ref", "$defs", "definitions", "nullable",
    };

    private readonly List<(string Name, string Body)> _rules = [];
    private readonly Dictionary<string, string> _byBody = new(StringComparer.Ordinal);
    private readonly HashSet<string> _names = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _refRules = new(StringComparer.Ordinal);
    private JsonElement _document;
    private int _maxRules = DefaultMaxRules;
    private string _param = SchemaParam;

    // The $ref targets entered since the output last had to write a character (the opening '{' of an object or '['
    // of an array): a reference back to one of them would make a left-recursive grammar rule, which llama.cpp refuses.
    private List<string> _leftEdge = [];

    // Rules llama.cpp will create: ours plus one per repetition of a bounded x{m,n} (it unrolls them).
    private long _expanded;

    private JsonSchemaGrammar()
    {
    }

    /// <summary>A grammar for any JSON object (response_format json_object).</summary>
    public static string AnyJsonObject()
    {
        var g = new JsonSchemaGrammar();
        g.Define("root", g.Primitive("object"));
        return g.Render();
    }

    /// <summary>A grammar whose sentences are exactly the JSON texts that satisfy <paramref name="schema"/> (within the supported subset).</summary>
    /// <exception cref="LlmException">The schema uses a feature that is not supported, or is malformed.</exception>
    /// <param name="schema">The JSON Schema.</param>
    /// <param name="maxRules">The most rules the grammar may need once repetitions are expanded (a schema asking for more is refused).</param>
    /// <param name="param">The request parameter the schema came from, which a refusal names (in its message and as its param).</param>
    public static string FromSchema(JsonElement schema, int maxRules = DefaultMaxRules, string param = SchemaParam)
    {
        var g = new JsonSchemaGrammar { _document = schema, _maxRules = maxRules, _param = param };
        var root = g.Visit(schema, "root", "", 0);
        if (root != "root")
        {
            g.Define("root", root);
        }

        return g.Render();
    }

    private string Render()
    {
        var text = new StringBuilder();
        // root first: llama.cpp starts from the rule named "root" wherever it is, but people read top-down.
        foreach (var (name, body) in _rules.OrderBy(r => r.Name == "root" ? 0 : 1))
        {
            text.Append(name).Append(" ::= ").Append(body).Append('\n');
        }

        return text.ToString();
    }

    // Returns the name of a rule that matches the schema.
    private string Visit(JsonElement schema, string hint, string path, int depth)
    {
        if (depth > MaxDepth)
        {
            throw Fail(path, $"nests deeper than {MaxDepth} levels");
        }

        if (schema.ValueKind == JsonValueKind.True)
        {
            return Primitive("value");
        }

        if (schema.ValueKind == JsonValueKind.False)
        {
            throw Fail(path, "is 'false', which no value satisfies");
        }

        if (schema.ValueKind != JsonValueKind.Object)
        {
            throw Fail(path, "must be a JSON object (or true)");
        }

        foreach (var property in schema.EnumerateObject())
        {
            if (!Supported.Contains(property.Name) && !Annotations.Contains(property.Name) && !property.Name.StartsWith("x-", StringComparison.Ordinal))
            {
                throw Fail(path, $"uses '{property.Name}', which is not supported in structured output (supported: {string.Join(", ", Supported.Order(StringComparer.Ordinal))})");
            }
        }

        var body = VisitBody(schema, hint, path, depth);
        if (schema.TryGetProperty("nullable", out var nullable) && nullable.ValueKind == JsonValueKind.True)
        {
            body = $"{Group(body)} | {Primitive("null")}";
        }

        return Define(hint, body);
    }

    private string VisitBody(JsonElement schema, string hint, string path, int depth)
    {
        if (schema.TryGetProperty("$ref", out var reference))
        {
            return Reference(reference, path, depth);
        }

        if (schema.TryGetProperty("const", out var constant))
        {
            return Literal(Compact(constant));
        }

        if (schema.TryGetProperty("enum", out var values))
        {
            if (values.ValueKind != JsonValueKind.Array || values.GetArrayLength() == 0)
            {
                throw Fail(path + "/enum", "must be a non-empty array");
            }

            return string.Join(" | ", values.EnumerateArray().Select(v => Literal(Compact(v))));
        }

        foreach (var keyword in new[] { "anyOf", "oneOf" })
        {
            if (schema.TryGetProperty(keyword, out var options))
            {
                if (options.ValueKind != JsonValueKind.Array || options.GetArrayLength() == 0)
                {
                    throw Fail(path + "/" + keyword, "must be a non-empty array");
                }

                if (schema.TryGetProperty("type", out _) || schema.TryGetProperty("properties", out _))
                {
                    throw Fail(path, $"mixes '{keyword}' with 'type' or 'properties'; put them inside each alternative");
                }

                var i = 0;
                return string.Join(" | ", options.EnumerateArray().Select(o => Visit(o, $"{hint}-{i}", $"{path}/{keyword}/{i++}", depth + 1)));
            }
        }

        if (!schema.TryGetProperty("type", out var type))
        {
            // No type: infer from the keywords present, like validators do; nothing at all means any value.
            if (schema.TryGetProperty("properties", out _) || schema.TryGetProperty("additionalProperties", out _))
            {
                return ObjectBody(schema, hint, path, depth);
            }

            if (schema.TryGetProperty("items", out _))
            {
                return ArrayBody(schema, hint, path, depth);
            }

            return Primitive("value");
        }

        if (type.ValueKind == JsonValueKind.String)
        {
            return TypeBody(type.GetString()!, schema, hint, path, depth);
        }

        if (type.ValueKind == JsonValueKind.Array && type.GetArrayLength() > 0)
        {
            return string.Join(" | ", type.EnumerateArray().Select(t => t.ValueKind == JsonValueKind.String
                ? Group(TypeBody(t.GetString()!, schema, $"{hint}-{t.GetString()}", path, depth))
                : throw Fail(path + "/type", "must name types as strings")));
        }

        throw Fail(path + "/type", "must be a type name or a non-empty array of them");
    }

    private string TypeBody(string type, JsonElement schema, string hint, string path, int depth) => type switch
    {
        "object" => ObjectBody(schema, hint, path, depth),
        "array" => ArrayBody(schema, hint, path, depth),
        "string" => StringBody(schema, path),
        "number" => Primitive("number"),
        "integer" => Primitive("integer"),
        "boolean" => Primitive("boolean"),
        "null" => Primitive("null"),
        _ => throw Fail(path + "/type", $"'{type}' is not a JSON Schema type (object, array, string, number, integer, boolean, null)"),
    };

    private string StringBody(JsonElement schema, string path)
    {
        var min = Count(schema, "minLength", path) ?? 0;
        var max = Count(schema, "maxLength", path);
        if (max < min)
        {
            throw Fail(path, $"has maxLength {max} below minLength {min}");
        }

        return max == 0 ? Literal("\"\"") : $"\"\\\"\" {Repeat(Primitive("char"), min, max)} \"\\\"\"";
    }

    private string ArrayBody(JsonElement schema, string hint, string path, int depth)
    {
        // '[' is written before any item: a reference inside starts a new left edge.
        var outer = _leftEdge;
        _leftEdge = [];
        try
        {
            return ArrayBodyAfterBracket(schema, hint, path, depth);
        }
        finally
        {
            _leftEdge = outer;
        }
    }

    private string ArrayBodyAfterBracket(JsonElement schema, string hint, string path, int depth)
    {
        var item = schema.TryGetProperty("items", out var items)
            ? Visit(items, hint + "-item", path + "/items", depth + 1)
            : Primitive("value");
        var min = Count(schema, "minItems", path) ?? 0;
        var max = Count(schema, "maxItems", path);
        if (max < min)
        {
            throw Fail(path, $"has maxItems {max} below minItems {min}");
        }

        Primitive("ws");
        if (max == 0)
        {
            return "\"[\" ws \"]\"";
        }

        var more = max == 1 ? "" : " " + Repeat($"(\",\" ws {item} ws)", Math.Max(min - 1, 0), max - 1);
        var list = $"{item} ws{more}";
        return min == 0 ? $"\"[\" ws ({list})? \"]\"" : $"\"[\" ws {list} \"]\"";
    }

    private string ObjectBody(JsonElement schema, string hint, string path, int depth)
    {
        // '{' is written before any member: a reference inside starts a new left edge.
        var outer = _leftEdge;
        _leftEdge = [];
        try
        {
            return ObjectBodyAfterBrace(schema, hint, path, depth);
        }
        finally
        {
            _leftEdge = outer;
        }
    }

    private string ObjectBodyAfterBrace(JsonElement schema, string hint, string path, int depth)
    {
        Primitive("ws");
        var required = new HashSet<string>(StringComparer.Ordinal);
        if (schema.TryGetProperty("required", out var req))
        {
            if (req.ValueKind != JsonValueKind.Array)
            {
                throw Fail(path + "/required", "must be an array of property names");
            }

            foreach (var r in req.EnumerateArray())
            {
                required.Add(r.ValueKind == JsonValueKind.String ? r.GetString()! : throw Fail(path + "/required", "must list names as strings"));
            }
        }

        // (member expression, kind): 0 = required, 1 = optional, 2 = any number (additional properties).
        var members = new List<(string Expr, int Kind)>();
        if (schema.TryGetProperty("properties", out var properties))
        {
            if (properties.ValueKind != JsonValueKind.Object)
            {
                throw Fail(path + "/properties", "must be an object");
            }

            foreach (var property in properties.EnumerateObject())
            {
                var value = Visit(property.Value, $"{hint}-{property.Name}", $"{path}/properties/{property.Name}", depth + 1);
                var member = Define($"{hint}-{property.Name}-kv", $"{Literal(Compact(JsonSerializer.SerializeToElement(property.Name)))} ws \":\" ws {value} ws");
                members.Add((member, required.Remove(property.Name) ? 0 : 1));
            }
        }

        if (required.Count > 0)
        {
            throw Fail(path + "/required", $"names '{required.First()}', which is not in 'properties'");
        }

        if (schema.TryGetProperty("additionalProperties", out var additional) && additional.ValueKind != JsonValueKind.False)
        {
            var value = additional.ValueKind == JsonValueKind.True
                ? Primitive("value")
                : Visit(additional, hint + "-additional", path + "/additionalProperties", depth + 1);
            Primitive("string");
            members.Add((Define($"{hint}-additional-kv", $"string ws \":\" ws {value} ws"), 2));
        }

        if (members.Count == 0)
        {
            return "\"{\" ws \"}\"";
        }

        // rest(i): members from i on after something was written (each one preceded by a comma);
        // first(i): members from i on when nothing was written yet. One rule each keeps the grammar linear in size.
        var rest = new string[members.Count + 1];
        rest[members.Count] = "";
        for (var i = members.Count - 1; i >= 0; i--)
        {
            var (expr, kind) = members[i];
            var part = kind switch
            {
                0 => $"\",\" ws {expr}",
                1 => $"(\",\" ws {expr})?",
                _ => $"(\",\" ws {expr})*",
            };
            rest[i] = Define($"{hint}-rest{i}", $"{part} {rest[i + 1]}".TrimEnd());
        }

        string First(int i)
        {
            if (i == members.Count)
            {
                return "";
            }

            var (expr, kind) = members[i];
            if (kind == 0)
            {
                return $"{expr} {rest[i + 1]}".TrimEnd();
            }

            var after = kind == 2 ? rest[i] : rest[i + 1];
            var skip = First(i + 1);
            var head = $"{expr} {after}".TrimEnd();
            return Define($"{hint}-first{i}", skip.Length == 0 ? head : $"{head} | {skip}");
        }

        var first = First(0);
        var allOptional = members.All(m => m.Kind != 0);
        return allOptional ? $"\"{{\" ws ({first})? \"}}\"" : $"\"{{\" ws {first} \"}}\"";
    }

    private string Reference(JsonElement reference, string path, int depth)
    {
        var target = reference.ValueKind == JsonValueKind.String ? reference.GetString()! : "";
        var loop = _leftEdge.IndexOf(target);
        if (loop >= 0)
        {
            // A rule that starts with itself (a ::= a | ..., or through anyOf/oneOf/$ref of other definitions): llama.cpp
            // refuses such a grammar, and no JSON text could end the descent anyway.
            var cycle = string.Join(" -> ", _leftEdge.Skip(loop).Append(target));
            throw Fail(path + "/$ref", $"refers back to '{target}' before anything is written ({cycle}): this left recursion has no grammar; recurse only inside an object's " +
                $"properties or an array's items");
        }

        if (_refRules.TryGetValue(target, out var known))
        {
            return known;
        }

        string[] parts = target.Split('/');
        if (parts.Length != 3 || parts[0] != "#" || parts[1] is not ("$defs" or "definitions"))
        {
            throw Fail(path + "/$ref", $"'{target}' is not supported: only local references like '#/$defs/name' are");
        }

        if (!_document.TryGetProperty(parts[1], out var defs) || defs.ValueKind != JsonValueKind.Object || !defs.TryGetProperty(parts[2], out var definition))
        {
            throw Fail(path + "/$ref", $"'{target}' points at nothing");
        }

        // Name the rule before visiting so recursive schemas (a tree node that holds nodes) refer back to it.
        var name = UniqueName("def-" + parts[2]);
        _refRules[target] = name;
        _names.Add(name);
        _leftEdge.Add(target);
        var body = Visit(definition, name + "-body", $"/{parts[1]}/{parts[2]}", depth + 1);
        _leftEdge.RemoveAt(_leftEdge.Count - 1);
        _rules.Add((name, body));
        return name;
    }

    private int? Count(JsonElement schema, string keyword, string path)
    {
        if (!schema.TryGetProperty(keyword, out var value))
        {
            return null;
        }

        if (value.ValueKind != JsonValueKind.Number || !value.TryGetInt32(out var n) || n < 0 || n > 100_000)
        {
            throw Fail($"{path}/{keyword}", "must be a whole number between 0 and 100000");
        }

        return n;
    }

    private void CheckSize()
    {
        if (_rules.Count + _expanded >= _maxRules)
        {
            throw Fail("", $"needs more than {_maxRules} grammar rules once repetitions (maxLength, maxItems, ...) are expanded (limit Maas:Llm:MaxGrammarRules); simplify it");
        }
    }

    private string Repeat(string item, int min, int? max)
    {
        _expanded += Math.Max(max ?? min, 1);
        CheckSize();
        return Repetition(item, min, max);
    }

    private static string Repetition(string item, int min, int? max) => (min, max) switch
    {
        (0, null) => $"{item}*",
        (1, null) => $"{item}+",
        (_, null) => $"{item}{{{min.ToString(CultureInfo.InvariantCulture)},}}",
        (0, 1) => $"{item}?",
        _ when min == max => min == 1 ? item : $"{item}{{{min.ToString(CultureInfo.InvariantCulture)}}}",
        _ => $"{item}{{{min.ToString(CultureInfo.InvariantCulture)},{max!.Value.ToString(CultureInfo.InvariantCulture)}}}",
    };

    private static string Group(string body) => body.Contains(' ', StringComparison.Ordinal) ? $"({body})" : body;

    // The shared building blocks, defined once and only when used.
    private string Primitive(string name)
    {
        if (_names.Contains(name))
        {
            return name;
        }

        _names.Add(name);
        var body = name switch
        {
            "ws" => "(\" \" | \"\\n\" [ \\t]{0,20})?",
            "char" => "[^\"\\\\\\x00-\\x1F] | \"\\\\\" ([\"\\\\/bfnrt] | \"u\" [0-9a-fA-F]{4})",
            "string" => $"\"\\\"\" {Primitive("char")}* \"\\\"\"",
            "integer" => "\"-\"? (\"0\" | [1-9] [0-9]{0,15})",
            "number" => $"{Primitive("integer")} (\".\" [0-9]{{1,16}})? ([eE] [-+]? [0-9]{{1,3}})?",
            "boolean" => "\"true\" | \"false\"",
            "null" => "\"null\"",
            "value" => $"{Primitive("object")} | {Primitive("array")} | {Primitive("string")} | {Primitive("number")} | {Primitive("boolean")} | {Primitive("null")}",
            "object" => $"\"{{\" {Primitive("ws")} ({Primitive("string")} ws \":\" ws {Primitive("value")} ws (\",\" ws string ws \":\" ws value ws)*)? \"}}\"",
            "array" => $"\"[\" {Primitive("ws")} ({Primitive("value")} ws (\",\" ws value ws)*)? \"]\"",
            _ => throw new ArgumentOutOfRangeException(nameof(name)),
        };
        _rules.Add((name, body));
        return name;
    }

    // Defines a rule for body (reusing an identical one) and returns its name.
    private string Define(string hint, string body)
    {
        if (_names.Contains(body) && !body.Contains(' ', StringComparison.Ordinal) && hint != "root")
        {
            return body; // already a rule name
        }

        if (_byBody.TryGetValue(body, out var existing) && hint != "root")
        {
            return existing;
        }

        CheckSize();

        var name = hint == "root" && !_names.Contains("root") ? "root" : UniqueName(hint);
        _names.Add(name);
        _rules.Add((name, body));
        _byBody.TryAdd(body, name);
        return name;
    }

    private string UniqueName(string hint)
    {
        var clean = new StringBuilder();
        foreach (var c in hint)
        {
            clean.Append(char.IsAsciiLetterOrDigit(c) || c == '-' ? c : '-');
        }

        var baseName = clean.Length == 0 ? "r" : clean.ToString();
        var name = baseName;
        for (var i = 2; _names.Contains(name) || IsPrimitiveName(name); i++)
        {
            name = baseName + "-" + i.ToString(CultureInfo.InvariantCulture);
        }

        return name;
    }

    private static bool IsPrimitiveName(string name) =>
        name is "ws" or "char" or "string" or "integer" or "number" or "boolean" or "null" or "value" or "object" or "array";

    private static string Compact(JsonElement value)
    {
        using var stream = new MemoryStream();
        // Unescaped non-ASCII: the model writes "é", not "\u00e9" (both parse to the same value).
        using (var writer = new Utf8JsonWriter(stream, new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            value.WriteTo(writer);
        }

        return Encoding.UTF8.GetString(stream.ToArray());
    }

    /// <summary>A GBNF string literal that matches exactly <paramref name="text"/>.</summary>
    public static string Literal(string text)
    {
        var s = new StringBuilder("\"");
        foreach (var c in text)
        {
            switch (c)
            {
                case '"': s.Append("\\\""); break;
                case '\\': s.Append("\\\\"); break;
                case '\n': s.Append("\\n"); break;
                case '\r': s.Append("\\r"); break;
                case '\t': s.Append("\\t"); break;
                case < ' ': s.Append("\\x").Append(((int)c).ToString("X2", CultureInfo.InvariantCulture)); break;
                default: s.Append(c); break;
            }
        }

        return s.Append('"').ToString();
    }

    private LlmException Fail(string path, string message) =>
        LlmException.Invalid($"'{_param}': the schema at '{(path.Length == 0 ? "/" : path)}' {message}", _param, "invalid_json_schema");
}
