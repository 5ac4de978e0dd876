using System.Text.Json;
using Maas.Core.Llm;
using Maas.Server.OpenAi;

namespace Maas.Server.Ollama;

/// <summary>
/// Reads Ollama request bodies into the same typed requests the OpenAI routes serve, refusing bad values with a 400
/// that names the field (<c>options.top_k</c>, <c>messages[2].role</c>).
/// </summary>
/// <remarks>
/// Sampling defaults are Ollama's (temperature 0.8, top_k 40, top_p 0.9, repeat_penalty 1.1, repeat_last_n 64), so a
/// client that sends no options gets what it would get from Ollama. Options that set up the runner (num_ctx, num_gpu,
/// num_thread, num_batch, use_mmap, ...) are ignored, as Ollama ignores options it does not know: here the model's
/// serving configuration sets them. Sampler options this engine does not have (mirostat, typical_p, tfs_z) are refused
/// when they would change the answer.
/// </remarks>
internal static class OllamaRequestReader
{
    /// <summary>Ollama's default sampling, used where the request's options say nothing.</summary>
    public static readonly SamplingOptions Defaults = new()
    {
        Temperature = 0.8f,
        TopK = 40,
        TopP = 0.9f,
        RepeatPenalty = 1.1f,
        PenaltyLastN = 64,
    };

    public static OllamaChatRequest ReadChat(JsonElement body, LlmServingOptions limits)
    {
        var parameters = ReadCommon(body, "messages", limits);
        var messages = new List<ChatMessage>();
        if (body.TryGetProperty("messages", out var list) && list.ValueKind != JsonValueKind.Null)
        {
            if (list.ValueKind != JsonValueKind.Array)
            {
                throw LlmException.Invalid("'messages' must be an array of {\"role\", \"content\"}", "messages");
            }

            var i = 0;
            foreach (var message in list.EnumerateArray())
            {
                messages.Add(ReadMessage(message, $"messages[{i++}]"));
            }
        }

        ToolSelection? tools = null;
        if (body.TryGetProperty("tools", out var toolsJson) && toolsJson.ValueKind != JsonValueKind.Null)
        {
            // Ollama's tools are OpenAI's ({"type": "function", "function": {...}}); the model may call them or answer.
            tools = ToolCalling.Read(body, limits.MaxTools);
            var bytes = System.Runtime.InteropServices.JsonMarshal.GetRawUtf8Value(toolsJson).Length;
            if (bytes > limits.MaxSchemaBytes)
            {
                throw LlmException.Invalid($"'tools' is {bytes} bytes of JSON; at most {limits.MaxSchemaBytes} are allowed (Maas:Llm:MaxSchemaBytes)", "tools");
            }
        }

        return new OllamaChatRequest(parameters, messages, tools, OllamaKeepAlive.Read(body));
    }

    public static OllamaGenerateRequest ReadGenerate(JsonElement body, LlmServingOptions limits)
    {
        var parameters = ReadCommon(body, "prompt", limits);
        if (String(body, "suffix") is { Length: > 0 })
        {
            throw LlmException.Invalid("'suffix' (fill in the middle) is not supported: send the text before the gap as 'prompt' alone", "suffix", "unsupported_parameter");
        }

        var raw = Bool(body, "raw") ?? false;
        var context = ReadContext(body);
        if (raw && context.Count > 0)
        {
            // Ollama ignores a context in raw mode (and returns none); it is refused here rather than dropped unseen.
            throw LlmException.Invalid("'context' cannot be used with \"raw\": true: a raw prompt is sent as written, with no conversation before it; put the earlier turns in " +
                "the prompt, or leave raw out", "context");
        }

        return new OllamaGenerateRequest(parameters, String(body, "prompt") ?? "", String(body, "system"), raw, OllamaKeepAlive.Read(body), context);
    }

    // context: the token ids an earlier /api/generate returned; ids past the vocabulary are refused once the model is known.
    private static List<int> ReadContext(JsonElement body)
    {
        var context = new List<int>();
        if (!body.TryGetProperty("context", out var list) || list.ValueKind == JsonValueKind.Null)
        {
            return context;
        }

        if (list.ValueKind != JsonValueKind.Array)
        {
            throw LlmException.Invalid("'context' must be an array of token ids, as an earlier /api/generate returned it", "context");
        }

        var i = 0;
        foreach (var item in list.EnumerateArray())
        {
            context.Add(item.ValueKind == JsonValueKind.Number && item.TryGetInt32(out var id) && id >= 0
                ? id
                : throw LlmException.Invalid($"'context[{i}]' must be a token id, an integer of at least 0; not {Shorten(item.GetRawText())}", "context"));
            i++;
        }

        return context;
    }

    private static string Shorten(string text) => text.Length <= 40 ? text : text[..40] + "...";

    public static OllamaEmbedRequest ReadEmbed(JsonElement body, LlmServingOptions limits, bool legacy)
    {
        var model = Model(body);
        var field = legacy ? "prompt" : "input";
        var inputs = new List<PromptInput>();
        if (body.TryGetProperty(field, out var input) && input.ValueKind != JsonValueKind.Null)
        {
            switch (input.ValueKind)
            {
                case JsonValueKind.String:
                    inputs.Add(new PromptInput(input.GetString()!, null));
                    break;
                case JsonValueKind.Array when !legacy:
                    var i = 0;
                    foreach (var item in input.EnumerateArray())
                    {
                        inputs.Add(item.ValueKind == JsonValueKind.String
                            ? new PromptInput(item.GetString()!, null)
                            : throw LlmException.Invalid($"'input[{i}]' must be a string", $"input[{i}]"));
                        i++;
                    }

                    break;
                default:
                    throw LlmException.Invalid(legacy ? "'prompt' must be a string" : "'input' must be a string or an array of strings", field);
            }
        }

        // One empty string is no input (the model is only loaded), as in Ollama; an empty item of an array is refused.
        if (inputs.Any(x => x.Text!.Length == 0) && input.ValueKind != JsonValueKind.String)
        {
            throw LlmException.Invalid($"'{field}' must not contain empty strings", field);
        }

        if (inputs.Count > limits.MaxEmbeddingInputs)
        {
            throw LlmException.Invalid($"'input' holds {inputs.Count} items; at most {limits.MaxEmbeddingInputs} are allowed (Maas:Llm:MaxEmbeddingInputs)", "input");
        }

        _ = ReadOptions(body, limits);
        var dimensions = body.TryGetProperty("dimensions", out var d) && d.ValueKind != JsonValueKind.Null
            ? d.ValueKind == JsonValueKind.Number && d.TryGetInt32(out var n) && n > 0 ? n : throw LlmException.Invalid("'dimensions' must be a positive integer", "dimensions")
            : (int?)null;
        return new OllamaEmbedRequest(model, inputs, Bool(body, "truncate") ?? true, dimensions, OllamaKeepAlive.Read(body));
    }

    /// <summary>The model a request names: <c>model</c>, or the older <c>name</c> that /api/show still takes.</summary>
    public static string Model(JsonElement body)
    {
        var model = String(body, "model");
        if (string.IsNullOrEmpty(model))
        {
            model = String(body, "name");
        }

        return string.IsNullOrEmpty(model) ? throw LlmException.Invalid("model is required", "model", "missing_required_parameter") : model;
    }

    private static GenerationParameters ReadCommon(JsonElement body, string promptParam, LlmServingOptions limits)
    {
        var model = Model(body);
        if (body.TryGetProperty("images", out var images) && images.ValueKind == JsonValueKind.Array && images.GetArrayLength() > 0)
        {
            throw LlmException.Invalid("'images' are not supported: the models served here read text only", "images", "unsupported_content");
        }

        if (String(body, "template") is { Length: > 0 })
        {
            throw LlmException.Invalid("'template' is not supported: the prompt is rendered with the model's own chat template (send \"raw\": true to /api/generate to write " +
                "the whole prompt yourself)", "template", "unsupported_parameter");
        }

        if (body.TryGetProperty("think", out var think) && think.ValueKind is JsonValueKind.True or JsonValueKind.String)
        {
            throw LlmException.Invalid("'think' is not supported: the models served here have no separate thinking phase; leave it out or send false", "think",
                "unsupported_parameter");
        }

        var (sampling, maxTokens, stop) = ReadOptions(body, limits);
        var logprobs = Bool(body, "logprobs") ?? false;
        var topLogprobs = ReadTopLogprobs(body);
        return new GenerationParameters
        {
            Model = model,
            PromptParam = promptParam,
            MaxTokens = maxTokens,
            MaxTokensParam = "options.num_predict",
            Stop = stop,
            Sampling = sampling,
            Grammar = ReadFormat(body, limits),
            Stream = Bool(body, "stream") ?? true,
            Logprobs = logprobs,
            // As Ollama: top_logprobs applies only with logprobs true, and is checked either way.
            TopLogprobs = logprobs ? topLogprobs : 0,
        };
    }

    // top_logprobs: 0 to 20 alternatives per token (Ollama's range and message).
    private static int ReadTopLogprobs(JsonElement body)
    {
        if (!body.TryGetProperty("top_logprobs", out var v) || v.ValueKind == JsonValueKind.Null)
        {
            return 0;
        }

        return v.ValueKind == JsonValueKind.Number && v.TryGetDouble(out var d) && d >= 0 && d <= 20 && Math.Floor(d) == d
            ? (int)d
            : throw LlmException.Invalid("top_logprobs must be between 0 and 20", "top_logprobs");
    }

    // format: "json" (any JSON object) or a JSON schema; "" or null is plain text.
    private static string? ReadFormat(JsonElement body, LlmServingOptions limits)
    {
        if (!body.TryGetProperty("format", out var format))
        {
            return null;
        }

        switch (format.ValueKind)
        {
            case JsonValueKind.Null:
                return null;
            case JsonValueKind.String when format.GetString() is "" or "text":
                return null;
            case JsonValueKind.String when format.GetString() == "json":
                return JsonSchemaGrammar.AnyJsonObject();
            case JsonValueKind.Object:
                var bytes = System.Runtime.InteropServices.JsonMarshal.GetRawUtf8Value(format).Length;
                if (bytes > limits.MaxSchemaBytes)
                {
                    throw LlmException.Invalid($"'format' is {bytes} bytes of JSON; at most {limits.MaxSchemaBytes} are allowed (Maas:Llm:MaxSchemaBytes)", "format");
                }

                return JsonSchemaGrammar.FromSchema(format, limits.MaxGrammarRules, "format");
            default:
                throw LlmException.Invalid("'format' must be \"json\" or a JSON schema object", "format");
        }
    }

    private static (SamplingOptions Sampling, int? MaxTokens, List<string> Stop) ReadOptions(JsonElement body, LlmServingOptions limits)
    {
        if (!body.TryGetProperty("options", out var o) || o.ValueKind == JsonValueKind.Null)
        {
            return (Defaults, null, []);
        }

        if (o.ValueKind != JsonValueKind.Object)
        {
            throw LlmException.Invalid("'options' must be an object such as {\"temperature\": 0.7, \"num_predict\": 128}", "options");
        }

        if (Number(o, "mirostat", 0, 2, integer: true) is > 0)
        {
            throw Unsupported("mirostat", "mirostat sampling");
        }

        if (Number(o, "typical_p", 0, 1) is { } typical && typical < 1)
        {
            throw Unsupported("typical_p", "locally typical sampling");
        }

        if (Number(o, "tfs_z", 0, 100) is { } tfs && tfs != 1)
        {
            throw Unsupported("tfs_z", "tail free sampling");
        }

        // num_predict: at least 1 bounds the answer; -1 (or any negative) lets it run to its end or the context's, as -2 does.
        int? maxTokens = Number(o, "num_predict", int.MinValue, int.MaxValue, integer: true) switch
        {
            null or < 0 => null,
            0 => throw LlmException.Invalid("'options.num_predict' must be at least 1, or negative for no limit", "options.num_predict"),
            var n => (int)n,
        };

        var seed = Number(o, "seed", long.MinValue, long.MaxValue, integer: true) switch
        {
            null or < 0 => (uint?)null, // a negative seed draws one per request
            var s => unchecked((uint)(long)s),
        };

        var sampling = Defaults with
        {
            Temperature = (float)(Number(o, "temperature", 0, 100) ?? Defaults.Temperature),
            TopK = (int)(Number(o, "top_k", int.MinValue, 1_000_000, integer: true) is { } k ? Math.Max(0, k) : Defaults.TopK),
            TopP = (float)(Number(o, "top_p", 0, 1) ?? Defaults.TopP),
            MinP = (float)(Number(o, "min_p", 0, 1) ?? Defaults.MinP),
            RepeatPenalty = (float)(Number(o, "repeat_penalty", 0, 10) ?? Defaults.RepeatPenalty),
            // -1: the whole context (set once the model's context is known).
            PenaltyLastN = (int)(Number(o, "repeat_last_n", -1, 1 << 20, integer: true) ?? Defaults.PenaltyLastN),
            PresencePenalty = (float)(Number(o, "presence_penalty", -2, 2) ?? 0),
            FrequencyPenalty = (float)(Number(o, "frequency_penalty", -2, 2) ?? 0),
            Seed = seed,
        };

        return (sampling, maxTokens, StopStrings.Read(o, "options.stop", limits, dropEmpty: true));
    }

    private static LlmException Unsupported(string option, string what) =>
        LlmException.Invalid($"'options.{option}' asks for {what}, which this server's sampler does not have; leave it out (or at its neutral value)", "options." + option,
        "unsupported_parameter");

    // A message as Ollama sends it: role, content, and for an assistant's earlier calls tool_calls with object arguments.
    private static ChatMessage ReadMessage(JsonElement message, string path)
    {
        if (message.ValueKind != JsonValueKind.Object)
        {
            throw LlmException.Invalid($"'{path}' must be an object with 'role' and 'content'", path);
        }

        var role = String(message, "role", path + ".role") ?? throw LlmException.Invalid($"'{path}.role' is required", path + ".role", "missing_required_parameter");
        if (role is not ("system" or "user" or "assistant" or "tool"))
        {
            throw LlmException.Invalid($"'{path}.role' must be one of system, user, assistant, tool; not '{(role.Length <= 40 ? role : role[..40] + "...")}'", path + ".role");
        }

        if (message.TryGetProperty("images", out var images) && images.ValueKind == JsonValueKind.Array && images.GetArrayLength() > 0)
        {
            throw LlmException.Invalid($"'{path}.images' are not supported: the models served here read text only", path + ".images", "unsupported_content");
        }

        var content = String(message, "content", path + ".content") ?? "";
        if (role == "assistant" && message.TryGetProperty("tool_calls", out var calls) && calls.ValueKind != JsonValueKind.Null)
        {
            if (calls.ValueKind != JsonValueKind.Array)
            {
                throw LlmException.Invalid($"'{path}.tool_calls' must be an array of {{\"function\": {{\"name\", \"arguments\"}}}}", path + ".tool_calls");
            }

            var i = 0;
            foreach (var call in calls.EnumerateArray())
            {
                var at = $"{path}.tool_calls[{i++}]";
                if (call.ValueKind != JsonValueKind.Object || !call.TryGetProperty("function", out var function) || function.ValueKind != JsonValueKind.Object
                    || String(function, "name", at + ".function.name") is not { Length: > 0 })
                {
                    throw LlmException.Invalid($"'{at}' must be {{\"function\": {{\"name\", \"arguments\"}}}} with a name", at);
                }
            }

            // The calls are shown to the model in the shape its tool instructions ask for, so it sees its own replies.
            if (content.Length == 0 && calls.GetArrayLength() > 0)
            {
                content = ToolCalling.ReplyText(calls);
            }
        }

        var name = role == "tool" ? String(message, "tool_name", path + ".tool_name") : null;
        return new ChatMessage(role, content, name);
    }

    private static string? String(JsonElement body, string name, string? param = null) =>
        !body.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null ? null
        : v.ValueKind == JsonValueKind.String ? v.GetString()
        : throw LlmException.Invalid($"'{param ?? name}' must be a string", param ?? name);

    private static bool? Bool(JsonElement body, string name) =>
        !body.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null ? null
        : v.ValueKind is JsonValueKind.True or JsonValueKind.False ? v.GetBoolean()
        : throw LlmException.Invalid($"'{name}' must be true or false", name);

    // An option's number; an integer option takes 40.0 as 40 (Ollama's options are decoded as numbers of any kind).
    private static double? Number(JsonElement options, string name, double min, double max, bool integer = false)
    {
        if (!options.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        if (v.ValueKind != JsonValueKind.Number || !v.TryGetDouble(out var d) || d < min || d > max || (integer && Math.Floor(d) != d))
        {
            var range = min <= int.MinValue &&
                max >= int.MaxValue ? "" : min <= int.MinValue ? $" at most {max}" : max >= int.MaxValue ? $" at least {min}" : $" between {min} and {max}";
            throw LlmException.Invalid($"'options.{name}' must be {(integer ? "an integer" : "a number")}{range}", "options." + name);
        }

        return d;
    }
}
