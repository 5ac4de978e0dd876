using System.Text.Json;
using Maas.Core.Llm;
using Maas.Server.Errors;

namespace Maas.Server.OpenAi;

/// <summary>Reads OpenAI request bodies into typed requests, refusing bad values with a 400 that names the parameter.</summary>
internal static class OpenAiRequestReader
{
    /// <summary>
    /// Parses the body once: the document lives until the response is done (no second copy of a large body) and every
    /// string in it is checked to be valid Unicode, so no later read of a value can fail on a lone surrogate.
    /// </summary>
    public static async Task<JsonElement> ReadBodyAsync(HttpRequest request, CancellationToken cancellationToken)
    {
        JsonDocument document;
        try
        {
            document = await JsonDocument.ParseAsync(request.Body, new JsonDocumentOptions { MaxDepth = 128, AllowDuplicateProperties = false }, cancellationToken);
        }
        catch (JsonException ex)
        {
            throw LlmException.Invalid(JsonBodyErrors.Describe("the request body is not valid JSON", ex), null, "invalid_json");
        }
        catch (InvalidOperationException)
        {
            // The duplicate-key check reads every key: one that is no text (a lone surrogate escape) cannot be read.
            throw NotUnicode(null, name: true);
        }
        catch (BadHttpRequestException ex) when (ex.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            // Kestrel's body limit (Kestrel:Limits:MaxRequestBodySize) stopped the read: the caller's mistake, not ours.
            var limit = request.HttpContext.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpMaxRequestBodySizeFeature>()?.MaxRequestBodySize;
            throw LlmException.Invalid($"the request body is larger than the {limit} bytes this server takes (Kestrel:Limits:MaxRequestBodySize)", null, "request_too_large");
        }
        catch (BadHttpRequestException ex)
        {
            throw LlmException.Invalid($"the request body could not be read: {ex.Message}", null, "invalid_request_body");
        }

        request.HttpContext.Response.RegisterForDispose(document);
        if (document.RootElement.ValueKind != JsonValueKind.Object)
        {
            throw LlmException.Invalid("the request body must be a JSON object", null, "invalid_request_error");
        }

        CheckUnicode(document.RootElement, null);
        return document.RootElement;
    }

    // JSON may escape half of a surrogate pair (\ud800); such a string has no UTF-8 form, and reading it throws. So does
    // a string of raw bytes that are not UTF-8 ("\xff"): the parser does not check the bytes inside strings. Only those
    // two kinds are decoded here (escaped, or not valid UTF-8), so valid text costs one vectorised scan.
    // The refusal names the top-level parameter, or within 'messages' the exact place (messages[i].content), as the
    // message checks do.
    public static void CheckUnicode(JsonElement element, string? param)
    {
        switch (element.ValueKind)
        {
            case JsonValueKind.Object:
                foreach (var property in element.EnumerateObject())
                {
                    if (Suspect(System.Runtime.InteropServices.JsonMarshal.GetRawUtf8PropertyName(property)))
                    {
                        Decode(property.Value, param, name: property);
                    }

                    // The name is read only once it is known to be text.
                    CheckUnicode(property.Value, param is null ? property.Name : InMessages(param) ? $"{param}.{property.Name}" : param);
                }

                break;
            case JsonValueKind.Array:
                var i = 0;
                foreach (var item in element.EnumerateArray())
                {
                    CheckUnicode(item, param is not null && InMessages(param) ? $"{param}[{i}]" : param);
                    i++;
                }

                break;
            case JsonValueKind.String when Suspect(System.Runtime.InteropServices.JsonMarshal.GetRawUtf8Value(element)):
                Decode(element, param, name: null);
                break;
        }
    }

    private static bool InMessages(string param) => param.StartsWith("messages", StringComparison.Ordinal) && (param.Length == 8 || param[8] is '[');

    private static bool Suspect(ReadOnlySpan<byte> raw) => raw.IndexOf("\\u"u8) >= 0 || !System.Text.Unicode.Utf8.IsValid(raw);

    private static void Decode(JsonElement value, string? param, JsonProperty? name)
    {
        try
        {
            _ = name is { } p ? p.Name : value.GetString();
        }
        catch (InvalidOperationException)
        {
            throw NotUnicode(param, name: name is not null);
        }
    }

    /// <summary>The refusal of a string (or, with <paramref name="name"/>, a key) that is not text.</summary>
    public static LlmException NotUnicode(string? param, bool name) => LlmException.Invalid(
        $"{(name || param is null ? "a property name" : $"'{param}'")} is not valid Unicode text: it holds bytes that are not UTF-8, or a lone UTF-16 surrogate escape " +
        $"(\\ud800-\\udfff without its pair)",
        param,
        "invalid_unicode");

    public static ChatCompletionRequest ReadChat(JsonElement body, LlmServingOptions? limits = null)
    {
        limits ??= new LlmServingOptions();
        var parameters = ReadCommon(body, chat: true, limits);
        RefuseUnservedOutputs(body);
        if (!body.TryGetProperty("messages", out var messages) || messages.ValueKind != JsonValueKind.Array)
        {
            throw LlmException.Invalid("'messages' is required and must be an array of messages", "messages", "missing_required_parameter");
        }

        var list = new List<ChatMessage>();
        var i = 0;
        foreach (var message in messages.EnumerateArray())
        {
            list.Add(ReadMessage(message, $"messages[{i++}]"));
        }

        if (list.Count == 0)
        {
            throw LlmException.Invalid("'messages' must hold at least one message", "messages");
        }

        var tools = ToolCalling.Read(body, limits.MaxTools);
        if (tools is not null && body.TryGetProperty("tools", out var toolsJson))
        {
            CheckSchemaSize(toolsJson, "tools", limits);
        }

        if (tools is { Forcing: true })
        {
            if (parameters.Grammar is not null)
            {
                throw LlmException.Invalid("'response_format' cannot be combined with a 'tool_choice' that forces a tool call", "response_format", "unsupported_parameter");
            }

            parameters = parameters with { Grammar = ToolCalling.Grammar(tools, limits.MaxGrammarRules) };
        }

        CheckGrammarCanEnd(parameters, "a 'tool_choice' that forces a tool call");

        return new ChatCompletionRequest(parameters, list, tools);
    }

    public static CompletionRequest ReadCompletion(JsonElement body, LlmServingOptions? limits = null)
    {
        limits ??= new LlmServingOptions();
        var parameters = ReadCommon(body, chat: false, limits);
        CheckGrammarCanEnd(parameters, null);
        if (!body.TryGetProperty("prompt", out var prompt))
        {
            throw LlmException.Invalid("'prompt' is required", "prompt", "missing_required_parameter");
        }

        // String() and Int() refuse other types: a number suffix or a string best_of must not pass unnoticed.
        if (String(body, "suffix") is { Length: > 0 })
        {
            throw LlmException.Invalid("'suffix' (insertion) is not supported", "suffix", "unsupported_parameter");
        }

        if (Int(body, "best_of", 1, 20) is { } best && best != parameters.N)
        {
            throw LlmException.Invalid("'best_of' other than n is not supported", "best_of", "unsupported_parameter");
        }

        // With logprobs, echo also scores the prompt: each prompt token's logprob after the ones before it.
        var echo = Bool(body, "echo") ?? false;

        // As OpenAI's legacy completions: 0 with echo returns the prompt alone, nothing generated (the model runs only
        // to score the prompt, with logprobs).
        if (parameters.MaxTokens == 0 && !echo)
        {
            throw LlmException.Invalid(
                $"'{parameters.MaxTokensParam}' may be 0 only with \"echo\": true (the prompt returned alone); otherwise it must be at least 1",
                parameters.MaxTokensParam);
        }

        var prompts = ReadInputs(prompt, "prompt", allowEmptyText: true);
        if (prompts.Count > limits.MaxPrompts)
        {
            throw LlmException.Invalid($"'prompt' holds {prompts.Count} prompts; at most {limits.MaxPrompts} are allowed (Maas:Llm:MaxPrompts)", "prompt");
        }

        return new CompletionRequest(parameters, prompts, echo);
    }

    public static EmbeddingRequest ReadEmbedding(JsonElement body, LlmServingOptions? limits = null)
    {
        limits ??= new LlmServingOptions();
        var model = RequiredString(body, "model");
        if (!body.TryGetProperty("input", out var input))
        {
            throw LlmException.Invalid("'input' is required", "input", "missing_required_parameter");
        }

        var inputs = ReadInputs(input, "input", allowEmptyText: false);
        if (inputs.Count > limits.MaxEmbeddingInputs)
        {
            throw LlmException.Invalid($"'input' holds {inputs.Count} items; at most {limits.MaxEmbeddingInputs} are allowed (Maas:Llm:MaxEmbeddingInputs)", "input");
        }

        var format = String(body, "encoding_format") ?? "float";
        if (format is not ("float" or "base64"))
        {
            throw LlmException.Invalid($"'encoding_format' must be 'float' or 'base64', not '{format}'", "encoding_format");
        }

        var dimensions = Int(body, "dimensions", 1, 1 << 20);
        return new EmbeddingRequest(model, inputs, format == "base64", Bool(body, "normalize") ?? true, dimensions, String(body, "user"));
    }

    // Fields that ask for an answer of another shape than this server gives: ignoring them would hand the client an
    // answer without what it asked for (no function_call, no audio), so they are refused, naming what to use instead.
    private static void RefuseUnservedOutputs(JsonElement body)
    {
        // The legacy function calling (before tools): a client that sends it reads message.function_call, never tool_calls.
        if (body.TryGetProperty("functions", out var functions) && functions.ValueKind != JsonValueKind.Null
            && !(functions.ValueKind == JsonValueKind.Array && functions.GetArrayLength() == 0))
        {
            throw LlmException.Invalid("'functions' (legacy function calling) is not supported: offer them as 'tools' ([{\"type\": \"function\", \"function\": {...}}]), whose " +
                "calls come back as message.tool_calls", "functions", "unsupported_parameter");
        }

        // "none" and "auto" ask for nothing a plain answer does not give; a named function or anything else would be ignored.
        if (body.TryGetProperty("function_call", out var functionCall)
            && functionCall.ValueKind != JsonValueKind.Null
            && !(functionCall.ValueKind == JsonValueKind.String && functionCall.GetString() is "none" or "auto"))
        {
            throw LlmException.Invalid("'function_call' (legacy function calling) is not supported: use 'tool_choice' with 'tools'", "function_call", "unsupported_parameter");
        }

        // Audio output: only text is generated.
        if (body.TryGetProperty("modalities", out var modalities) && modalities.ValueKind != JsonValueKind.Null)
        {
            if (modalities.ValueKind != JsonValueKind.Array || modalities.EnumerateArray().Any(m => m.ValueKind != JsonValueKind.String))
            {
                throw LlmException.Invalid("'modalities' must be an array of strings such as [\"text\"]", "modalities");
            }

            if (modalities.EnumerateArray().FirstOrDefault(m => m.GetString() != "text") is { ValueKind: JsonValueKind.String } other)
            {
                throw LlmException.Invalid($"'modalities' asks for '{Excerpt(other.GetString()!)}' output, but this model answers with text only: leave it out or send [\"text\"]",
                    "modalities", "unsupported_value");
            }
        }

        if (body.TryGetProperty("audio", out var audio) && audio.ValueKind != JsonValueKind.Null)
        {
            throw LlmException.Invalid("'audio' (audio output) is not supported: this model answers with text only", "audio", "unsupported_parameter");
        }
    }

    // OpenAI fields this server cannot honour and whose silent ignoring would mislead the client into thinking they
    // took effect. Harmless hints (user, store, metadata, service_tier, prompt_cache_key, safety_identifier) are
    // accepted and ignored; these are refused unless null, naming the field.
    private static void RefuseMisleadingHints(JsonElement body, bool chat)
    {
        Refuse("prediction", "'prediction' (predicted outputs) is not supported: the answer is generated token by token; leave it out");
        Refuse("web_search_options", "'web_search_options' is not supported: this server has no web search, and the answer would not be grounded in one; leave it out");
        Refuse("reasoning_effort", "'reasoning_effort' is not supported: the models served here have no separate reasoning phase to shorten or lengthen; leave it out");
        if (!chat)
        {
            Refuse("top_logprobs", "'top_logprobs' is a chat completions parameter: on /v1/completions 'logprobs' (0..5) is the number of alternatives per token");
        }

        void Refuse(string name, string message)
        {
            if (body.TryGetProperty(name, out var value) && value.ValueKind != JsonValueKind.Null)
            {
                throw LlmException.Invalid(message, name, "unsupported_parameter");
            }
        }
    }

    // A grammar ends the output when it is complete; ignore_eos asks for output that never ends there.
    private static void CheckGrammarCanEnd(GenerationParameters parameters, string? forcedTools)
    {
        if (parameters.Grammar is not null && parameters.Sampling.IgnoreEos)
        {
            throw LlmException.Invalid(
                $"'ignore_eos' cannot be combined with 'response_format' json_object/json_schema{(forcedTools is null ? "" : " or " + forcedTools)}: constrained output " +
                $"ends when it is complete",
                "ignore_eos",
                "unsupported_parameter");
        }
    }

    private static void CheckSchemaSize(JsonElement schema, string param, LlmServingOptions limits)
    {
        var bytes = System.Runtime.InteropServices.JsonMarshal.GetRawUtf8Value(schema).Length;
        if (bytes > limits.MaxSchemaBytes)
        {
            throw LlmException.Invalid($"'{param}' is {bytes} bytes of JSON; at most {limits.MaxSchemaBytes} are allowed (Maas:Llm:MaxSchemaBytes)", param);
        }
    }

    private static GenerationParameters ReadCommon(JsonElement body, bool chat, LlmServingOptions limits)
    {
        var model = RequiredString(body, "model");
        // max_completion_tokens (chat's current name) wins over max_tokens, on either route, as in vLLM; both are read, so
        // a max_tokens of the wrong type is refused rather than silently passed over.
        // null is as absent (OpenAI's schema types both "integer or null"). Completions take 0 with echo (the prompt
        // alone, see ReadCompletion); chat needs at least 1.
        var legacyMaxTokens = Int(body, "max_tokens", chat ? 1 : 0, int.MaxValue);
        var completionMaxTokens = Int(body, "max_completion_tokens", chat ? 1 : 0, int.MaxValue);
        var maxTokensParam = completionMaxTokens is not null ? "max_completion_tokens" : "max_tokens";
        var maxTokens = completionMaxTokens ?? legacyMaxTokens;
        // The legacy completions API generates 16 tokens when max_tokens is absent or null (as OpenAI's and vLLM's);
        // chat generates until the end of the answer or of the context.
        if (!chat && maxTokens is null)
        {
            maxTokens = 16;
        }

        RefuseMisleadingHints(body, chat);

        var stop = StopStrings.Read(body, "stop", limits);
        var logitBias = ReadLogitBias(body, limits);
        var (logprobs, topLogprobs) = ReadLogprobs(body, chat);
        var seed = body.TryGetProperty("seed", out var seedValue) && seedValue.ValueKind != JsonValueKind.Null
            ? seedValue.ValueKind == JsonValueKind.Number &&
                seedValue.TryGetInt64(out var s64) ? (uint?)unchecked((uint)s64) : throw LlmException.Invalid("'seed' must be an integer", "seed")
            : null;
        var (stream, includeUsage) = ReadStreaming(body);
        var sampling = new SamplingOptions
        {
            Temperature = Float(body, "temperature", 0, 2) ?? 1f,
            TopP = Float(body, "top_p", 0, 1) ?? 1f,
            TopK = Int(body, "top_k", 0, 1_000_000) ?? 0,
            MinP = Float(body, "min_p", 0, 1) ?? 0f,
            PresencePenalty = Float(body, "presence_penalty", -2, 2) ?? 0f,
            FrequencyPenalty = Float(body, "frequency_penalty", -2, 2) ?? 0f,
            RepeatPenalty = Float(body, "repeat_penalty", 0, 10) ?? 1f,
            PenaltyLastN = Int(body, "repeat_last_n", 0, 1 << 20) ?? 64,
            Seed = seed,
            IgnoreEos = Bool(body, "ignore_eos") ?? false,
        };

        return new GenerationParameters
        {
            Model = model,
            PromptParam = chat ? "messages" : "prompt",
            MaxTokens = maxTokens,
            MaxTokensParam = maxTokensParam,
            N = Int(body, "n", 1, limits.MaxChoices, "Maas:Llm:MaxChoices") ?? 1,
            Stop = stop,
            Sampling = sampling,
            LogitBias = logitBias,
            Logprobs = logprobs,
            TopLogprobs = topLogprobs,
            Grammar = ReadResponseFormat(body, limits),
            Stream = stream,
            IncludeUsage = includeUsage,
            User = String(body, "user"),
        };
    }

    private static Dictionary<int, float> ReadLogitBias(JsonElement body, LlmServingOptions limits)
    {
        var logitBias = new Dictionary<int, float>();
        if (body.TryGetProperty("logit_bias", out var bias) && bias.ValueKind != JsonValueKind.Null)
        {
            if (bias.ValueKind != JsonValueKind.Object)
            {
                throw LlmException.Invalid("'logit_bias' must map token ids to numbers between -100 and 100", "logit_bias");
            }

            var entries = 0;
            foreach (var _ in bias.EnumerateObject())
            {
                if (++entries > limits.MaxLogitBias)
                {
                    throw LlmException.Invalid($"'logit_bias' holds more than {limits.MaxLogitBias} entries; at most {limits.MaxLogitBias} are allowed (Maas:Llm:MaxLogitBias)",
                        "logit_bias");
                }
            }

            foreach (var entry in bias.EnumerateObject())
            {
                // A negative id parses here and is refused with the vocabulary's size once the model is known.
                // TryGetDouble: a number past double's range (1e400) has no value; GetDouble would throw.
                if (!int.TryParse(entry.Name, System.Globalization.NumberStyles.AllowLeadingSign, System.Globalization.CultureInfo.InvariantCulture, out var token)
                    || entry.Value.ValueKind != JsonValueKind.Number || !entry.Value.TryGetDouble(out var value) || value is < -100 or > 100)
                {
                    throw LlmException.Invalid($"'logit_bias' entry '{Excerpt(entry.Name)}' must be a token id mapped to a number between -100 and 100", "logit_bias");
                }

                logitBias[token] = (float)value;
            }
        }

        return logitBias;
    }

    private static (bool Logprobs, int TopLogprobs) ReadLogprobs(JsonElement body, bool chat)
    {
        bool logprobs;
        int topLogprobs;
        if (chat)
        {
            logprobs = Bool(body, "logprobs") ?? false;
            topLogprobs = Int(body, "top_logprobs", 0, 20) ?? 0;
            if (topLogprobs > 0 && !logprobs)
            {
                throw LlmException.Invalid("'top_logprobs' needs 'logprobs' set to true", "top_logprobs");
            }
        }
        else
        {
            // Legacy completions: logprobs is the number of alternatives (0..5), null means none.
            var legacy = Int(body, "logprobs", 0, 5);
            logprobs = legacy is not null;
            topLogprobs = legacy ?? 0;
        }

        return (logprobs, topLogprobs);
    }

    private static (bool Stream, bool IncludeUsage) ReadStreaming(JsonElement body)
    {
        var stream = Bool(body, "stream") ?? false;
        var includeUsage = false;
        if (body.TryGetProperty("stream_options", out var streamOptions) && streamOptions.ValueKind != JsonValueKind.Null)
        {
            // Any other type would silently drop include_usage, and the client would wait for a usage chunk that never comes.
            includeUsage = streamOptions.ValueKind == JsonValueKind.Object
                ? Bool(streamOptions, "include_usage", "stream_options.include_usage") ?? false
                : throw LlmException.Invalid("'stream_options' must be an object such as {\"include_usage\": true}", "stream_options");

            // As OpenAI: options for a stream that is not asked for are a mistake, not something to ignore.
            if (!stream)
            {
                throw LlmException.Invalid("'stream_options' is only allowed when 'stream' is true", "stream_options");
            }
        }

        return (stream, includeUsage);
    }

    private static string? ReadResponseFormat(JsonElement body, LlmServingOptions limits)
    {
        if (!body.TryGetProperty("response_format", out var format) || format.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        if (format.ValueKind != JsonValueKind.Object)
        {
            throw LlmException.Invalid("'response_format' must be an object with a 'type'", JsonSchemaGrammar.Param);
        }

        var type = String(format, "type", "response_format.type")
            ?? throw LlmException.Invalid("'response_format.type' is required: text, json_object or json_schema", "response_format.type", "missing_required_parameter");
        switch (type)
        {
            case "text":
                return null;
            case "json_object":
                return JsonSchemaGrammar.AnyJsonObject();
            case "json_schema":
                if (!format.TryGetProperty("json_schema", out var wrapper) || wrapper.ValueKind != JsonValueKind.Object)
                {
                    throw Required(wrapper, "response_format.json_schema", "an object such as {\"name\": ..., \"schema\": {...}} for type json_schema");
                }

                // OpenAI nests the schema under json_schema.schema; a bare schema is taken too. A wrapper that names its
                // schema ('name' is no JSON Schema keyword) but holds none is missing it, not a schema that uses 'name'.
                if (!wrapper.TryGetProperty("schema", out var inner) && wrapper.TryGetProperty("name", out _))
                {
                    throw LlmException.Invalid(
                        "'response_format.json_schema.schema' is required: the JSON Schema the answer must follow, beside 'name'",
                        "response_format.json_schema.schema",
                        "missing_required_parameter");
                }

                // A refusal names where the schema sits: json_schema.schema, or json_schema itself for a bare schema.
                var (schema, schemaParam) = inner.ValueKind != JsonValueKind.Undefined
                    ? (inner, JsonSchemaGrammar.SchemaParam)
                    : (wrapper, "response_format.json_schema");
                CheckSchemaSize(schema, schemaParam, limits);
                return JsonSchemaGrammar.FromSchema(schema, limits.MaxGrammarRules, schemaParam);
            default:
                throw LlmException.Invalid($"'response_format.type' must be text, json_object or json_schema, not '{type}'", "response_format.type");
        }
    }

    // Every refusal names the exact place, messages[i] or messages[i].field, as OpenAI's own errors do.
    private static ChatMessage ReadMessage(JsonElement message, string path)
    {
        if (message.ValueKind != JsonValueKind.Object)
        {
            throw LlmException.Invalid($"'{path}' must be an object with 'role' and 'content'", path);
        }

        var role = String(message, "role", path + ".role") ?? throw LlmException.Invalid($"'{path}.role' is required", path + ".role", "missing_required_parameter");
        if (!ChatMessage.Roles.Contains(role))
        {
            throw LlmException.Invalid($"'{path}.role' must be one of system, developer, user, assistant, tool; not '{role}'", path + ".role");
        }

        var contentPath = path + ".content";
        var calls = ToolCalls(message, role, path);
        var content = "";
        if (message.TryGetProperty("content", out var c) && c.ValueKind != JsonValueKind.Null)
        {
            content = c.ValueKind switch
            {
                JsonValueKind.String => c.GetString()!,
                JsonValueKind.Array => string.Concat(c.EnumerateArray().Select((part, i) => TextPart(part, $"{contentPath}[{i}]"))),
                _ => throw LlmException.Invalid($"'{contentPath}' must be a string or an array of text parts", contentPath),
            };

            // OpenAI refuses a user turn with no parts (400 empty_array) but takes an empty string, as vLLM and Ollama do
            // (clients send "" for a turn that says nothing); other roles may be empty (a tool that printed nothing).
            if (role == "user" && c.ValueKind == JsonValueKind.Array && c.GetArrayLength() == 0)
            {
                throw LlmException.Invalid($"'{contentPath}' must hold at least one text part", contentPath, "empty_array");
            }
        }
        else if (calls is null && !(role == "assistant" && message.TryGetProperty("function_call", out var fc) && fc.ValueKind == JsonValueKind.Object))
        {
            // Content is required unless an assistant turn called tools (or, in the legacy shape, a function): OpenAI
            // refuses an assistant turn with neither (400, param messages[i].content); null is as absent.
            var who = role == "assistant" ? "an assistant message without 'tool_calls'" : $"a {role} message";
            throw c.ValueKind == JsonValueKind.Null
                ? LlmException.Invalid($"'{contentPath}' must be a string or an array of text parts, not null: only an assistant message with 'tool_calls' may have null content",
                    contentPath)
                : LlmException.Invalid($"'{contentPath}' is required for {who}", contentPath, "missing_required_parameter");
        }

        // As OpenAI: a tool's result must say which call it answers.
        if (role == "tool" && String(message, "tool_call_id", path + ".tool_call_id") is null)
        {
            throw LlmException.Invalid($"'{path}.tool_call_id' is required: a tool message answers the tool call it names", path + ".tool_call_id", "missing_required_parameter");
        }

        // An assistant turn that called tools carries no text; show the calls so the model sees what happened.
        // They are written in the shape the tool instructions ask for (see ToolCalling), so the model sees its own replies.
        if (calls is { } toolCalls && content.Length == 0)
        {
            content = ToolCalling.ReplyText(toolCalls);
        }

        return new ChatMessage(role == "developer" ? "system" : role, content, String(message, "name", path + ".name"), String(message, "tool_call_id", path + ".tool_call_id"));
    }

    // An assistant turn's tool_calls: null when absent; OpenAI refuses an empty array (400 empty_array) and any other type.
    private static JsonElement? ToolCalls(JsonElement message, string role, string path)
    {
        if (role != "assistant" || !message.TryGetProperty("tool_calls", out var calls) || calls.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        if (calls.ValueKind != JsonValueKind.Array)
        {
            throw LlmException.Invalid($"'{path}.tool_calls' must be an array of tool calls", path + ".tool_calls");
        }

        if (calls.GetArrayLength() == 0)
        {
            throw LlmException.Invalid($"'{path}.tool_calls' must hold at least one tool call, or be left out", path + ".tool_calls", "empty_array");
        }

        // Each call as OpenAI's own replies have it: {"id", "type": "function", "function": {"name", "arguments"}}; the
        // function and its name are what the model is shown, so they must be there.
        var i = 0;
        foreach (var call in calls.EnumerateArray())
        {
            var at = $"{path}.tool_calls[{i++}]";
            if (call.ValueKind != JsonValueKind.Object)
            {
                throw LlmException.Invalid($"'{at}' must be a tool call {{\"id\", \"type\": \"function\", \"function\": {{\"name\", \"arguments\"}}}}", at);
            }

            if (!call.TryGetProperty("function", out var function) || function.ValueKind != JsonValueKind.Object)
            {
                throw Required(function, at + ".function", "an object {\"name\", \"arguments\"}");
            }

            _ = String(function, "name", at + ".function.name") ??
                throw LlmException.Invalid($"'{at}.function.name' is required", at + ".function.name", "missing_required_parameter");
        }

        return calls;
    }

    private static string TextPart(JsonElement part, string path)
    {
        if (part.ValueKind == JsonValueKind.Object && String(part, "type", path + ".type") == "text")
        {
            return String(part, "text", path + ".text") ?? throw LlmException.Invalid($"'{path}.text' is required", path + ".text", "missing_required_parameter");
        }

        throw LlmException.Invalid($"'{path}' must be a text part: only text content is supported by this model", path, "unsupported_content");
    }

    private static List<PromptInput> ReadInputs(JsonElement value, string param, bool allowEmptyText)
    {
        var inputs = new List<PromptInput>();
        switch (value.ValueKind)
        {
            case JsonValueKind.String:
                inputs.Add(Text(value.GetString()!));
                break;
            case JsonValueKind.Array when value.GetArrayLength() == 0:
                throw LlmException.Invalid($"'{param}' must not be empty", param);
            case JsonValueKind.Array when value[0].ValueKind == JsonValueKind.Number:
                inputs.Add(new PromptInput(null, Tokens(value)));
                break;
            case JsonValueKind.Array:
                foreach (var item in value.EnumerateArray())
                {
                    inputs.Add(item.ValueKind switch
                    {
                        JsonValueKind.String => Text(item.GetString()!),
                        JsonValueKind.Array when item.GetArrayLength() > 0 => new PromptInput(null, Tokens(item)),
                        _ => throw LlmException.Invalid($"'{param}' must be a string, an array of strings, an array of token ids, or an array of such arrays", param),
                    });
                }

                break;
            default:
                throw LlmException.Invalid($"'{param}' must be a string, an array of strings, an array of token ids, or an array of such arrays", param);
        }

        return inputs;

        PromptInput Text(string text) =>
            text.Length == 0 && !allowEmptyText ? throw LlmException.Invalid($"'{param}' must not contain empty strings", param) : new PromptInput(text, null);

        List<int> Tokens(JsonElement array)
        {
            var tokens = new List<int>();
            foreach (var t in array.EnumerateArray())
            {
                // The id's range is checked against the model's vocabulary once the model is known (a negative id too,
                // so that the refusal can name the vocabulary's size).
                tokens.Add(t.ValueKind == JsonValueKind.Number && t.TryGetInt32(out var id)
                    ? id
                    : throw LlmException.Invalid($"'{param}' holds {Excerpt(t)}, which is not a token id: token ids are integers from 0 to the model's vocabulary size less one",
                        param));
            }

            return tokens;
        }
    }

    // At most the first 40 bytes of a value's JSON, without copying a large value whole.
    private static string Excerpt(JsonElement value)
    {
        var raw = System.Runtime.InteropServices.JsonMarshal.GetRawUtf8Value(value);
        return raw.Length <= 40 ? System.Text.Encoding.UTF8.GetString(raw) : System.Text.Encoding.UTF8.GetString(raw[..40]) + "...";
    }

    private static string Excerpt(string text) => text.Length <= 40 ? text : text[..40] + "...";

    /// <summary>
    /// The refusal of a required value at <paramref name="param"/>: absent or null is 400 missing_required_parameter,
    /// present but not <paramref name="shape"/> 400 invalid_value.
    /// </summary>
    public static LlmException Required(JsonElement value, string param, string shape) =>
        value.ValueKind is JsonValueKind.Undefined or JsonValueKind.Null
            ? LlmException.Invalid($"'{param}' is required ({shape})", param, "missing_required_parameter")
            : LlmException.Invalid($"'{param}' must be {shape}", param);

    private static string RequiredString(JsonElement body, string name)
    {
        var value = String(body, name);
        return string.IsNullOrEmpty(value) ? throw LlmException.Invalid($"'{name}' is required", name, "missing_required_parameter") : value;
    }

    private static string? String(JsonElement body, string name, string? param = null) =>
        !body.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null ? null
        : v.ValueKind == JsonValueKind.String ? v.GetString()
        : throw LlmException.Invalid($"'{param ?? name}' must be a string", param ?? name);

    private static bool? Bool(JsonElement body, string name, string? param = null) =>
        !body.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null ? null
        : v.ValueKind is JsonValueKind.True or JsonValueKind.False ? v.GetBoolean()
        : throw LlmException.Invalid($"'{param ?? name}' must be true or false", param ?? name);

    // maxSetting: the configuration key that sets max, named in the error when max is a configured limit.
    private static int? Int(JsonElement body, string name, int min, int max, string? maxSetting = null)
    {
        if (!body.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        if (v.ValueKind != JsonValueKind.Number || !v.TryGetInt64(out var n) || n < min || n > max)
        {
            throw LlmException.Invalid($"'{name}' must be an integer between {min} and {max}{(maxSetting is null ? "" : $" ({maxSetting})")}", name);
        }

        return (int)n;
    }

    private static float? Float(JsonElement body, string name, double min, double max)
    {
        if (!body.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        // TryGetDouble: a number past double's range (1e400) has no value; GetDouble would throw.
        if (v.ValueKind != JsonValueKind.Number || !v.TryGetDouble(out var d) || d < min || d > max)
        {
            throw LlmException.Invalid($"'{name}' must be a number between {min} and {max}", name);
        }

        return (float)d;
    }
}
