using System.Globalization;
using System.Text;
using System.Text.Json;
using Maas.Core.Formats;
using Maas.Core.Llm;
using Maas.Core.Registry;
using Maas.Server.Auth;
using Maas.Server.OpenAi;

namespace Maas.Server.TensorInference.Rest;

/// <summary>
/// The generate extension of the Open Inference Protocol (Triton's, provisional):
/// <c>POST /v2/models/{model}[/versions/{version}]/generate</c> and <c>.../generate_stream</c> for GGUF models, served
/// by the same LLM core as /v1/completions (model host, continuous batching, sampling, limits, metering). The prompt is
/// <c>text_input</c> as written: no chat template. Errors are the protocol's <c>{"error": "message"}</c>; once a stream
/// has started, an error is its last event.
/// </summary>
internal static class V2GenerateEndpoints
{
    // The parameters this server reads; parameters are model-specific in the extension, so others are refused
    // rather than silently dropped.
    private static readonly string[] Parameters = ["max_tokens", "temperature", "top_p", "top_k", "seed", "stop", "stream", "stop_words", "bad_words"];

    public static Task GenerateAsync(HttpContext ctx, LlmGenerationService service, LlmShadowCopies copies, IModelRegistry registry, ILoggerFactory loggers, string model,
        string? version) =>
        RunAsync(ctx, service, copies, registry, loggers, model, version, stream: false);

    public static Task GenerateStreamAsync(HttpContext ctx, LlmGenerationService service, LlmShadowCopies copies, IModelRegistry registry, ILoggerFactory loggers, string model,
        string? version) =>
        RunAsync(ctx, service, copies, registry, loggers, model, version, stream: true);

    private static Task RunAsync(HttpContext ctx, LlmGenerationService service, LlmShadowCopies copies, IModelRegistry registry, ILoggerFactory loggers, string model,
        string? version, bool stream)
    {
        var aborted = ctx.RequestAborted;
        return OpenAiEndpoint.RunAsync(ctx, loggers, async () =>
        {
            var body = await OpenAiRequestReader.ReadBodyAsync(ctx.Request, aborted);
            var (text, p) = Read(body, model, service.Options);
            var reference = Reference(model, version);
            LlmSession session;
            try
            {
                session = await service.OpenAsync(ctx, reference, aborted);
            }
            catch (LlmException ex) when (ex.Kind == LlmErrorKind.NotFound)
            {
                // Not found as a language model: a tensor model the caller can see is 400 naming /infer instead.
                await RefuseTensorModelAsync(ctx, registry, reference, model, aborted);
                throw;
            }

            using var held = session;
            var versionText = session.Resolved.Spec.Version.ToString(CultureInfo.InvariantCulture);
            var prompt = session.Engine.Tokenize(text, addSpecial: true, parseSpecial: true);
            var requests = service.Prepare(session, prompt, p, [], OpenAiJson.NewId("v2-gen-"));
            var events = service.Start(session, requests, aborted);
            if (stream)
            {
                await StreamAsync(ctx, session, model, versionText, events, aborted);
            }
            else
            {
                await RespondAsync(ctx, session, model, versionText, events, aborted);
            }

            copies.Offer(session, p, other => [new Deployments.TextPrompt(other.Tokenize(text, addSpecial: true, parseSpecial: true), [])]);
        }, FailAsync);
    }

    /// <summary>
    /// Reads <c>{"text_input": "...", "parameters": {...}}</c>. The extension passes other top-level properties to the
    /// model as parameters: a known parameter name is read from either place (<c>parameters</c> wins), anything else
    /// is refused with the names this server reads.
    /// </summary>
    internal static (string Text, GenerationParameters Parameters) Read(JsonElement body, string model, LlmServingOptions limits)
    {
        if (body.ValueKind != JsonValueKind.Object)
        {
            throw LlmException.Invalid($"the request body must be a JSON object with \"text_input\", not {TensorJson.Kind(body)}", null);
        }

        if (!body.TryGetProperty("text_input", out var input) || input.ValueKind != JsonValueKind.String)
        {
            throw input.ValueKind is JsonValueKind.Undefined or JsonValueKind.Null
                ? LlmException.Invalid("\"text_input\" is required (a string: the text the model continues)", "text_input", "missing_required_parameter")
                : LlmException.Invalid($"\"text_input\" must be a string, not {TensorJson.Kind(input)}", "text_input");
        }

        OpenAiRequestReader.CheckUnicode(input, "text_input");
        var text = input.GetString()!;
        if (text.Length == 0)
        {
            throw LlmException.Invalid("\"text_input\" is empty: give the text the model continues", "text_input");
        }

        // The parameters that apply, gathered into one object in OpenAI's completion shape and read by /v1's reader, so
        // that ranges, limits and messages are the same as /v1/completions'.
        var gathered = Gather(body);
        MapTensorRtLlmWords(gathered);
        // Checked here: /v1/completions' reader takes 0 (with echo) and says so in its message, which does not apply.
        if (gathered.TryGetValue("max_tokens", out var maxTokens) && maxTokens.ValueKind != JsonValueKind.Null
            && !(maxTokens.ValueKind == JsonValueKind.Number && maxTokens.TryGetInt32(out var m) && m >= 1))
        {
            throw LlmException.Invalid($"'max_tokens' must be an integer between 1 and {int.MaxValue}", "max_tokens");
        }

        // "stream": the route decides (generate or generate_stream); the parameter is read for its type only.
        if (gathered.Remove("stream", out var streamValue) && streamValue.ValueKind is not (JsonValueKind.True or JsonValueKind.False or JsonValueKind.Null))
        {
            throw LlmException.Invalid("'stream' must be true or false (the route decides: generate answers whole, generate_stream as events)", "stream");
        }

        var buffer = OpenAiJson.Build(json =>
        {
            json.WriteStartObject();
            json.WriteString("model", model);
            json.WriteString("prompt", text);
            foreach (var (name, value) in gathered)
            {
                json.WritePropertyName(name);
                value.WriteTo(json);
            }

            json.WriteEndObject();
        });
        using var document = JsonDocument.Parse(buffer.WrittenMemory);
        var p = OpenAiRequestReader.ReadCompletion(document.RootElement, limits).Parameters;

        // Without max_tokens the answer runs to its end (or the context's), not /v1/completions' legacy 16 tokens.
        return (text, p with
        {
            MaxTokens = gathered.ContainsKey("max_tokens") && maxTokens.ValueKind != JsonValueKind.Null ? p.MaxTokens : null,
            Stream = false,
            PromptParam = "text_input"
        });
    }

    // The request's parameters by their /v1 names: top-level properties first, then "parameters", which wins.
    private static Dictionary<string, JsonElement> Gather(JsonElement body)
    {
        var gathered = new Dictionary<string, JsonElement>(StringComparer.Ordinal);
        foreach (var property in body.EnumerateObject())
        {
            if (property.Name is "text_input" or "parameters")
            {
                continue;
            }

            gathered[Known(property.Name, "")] = property.Value;
        }

        if (body.TryGetProperty("parameters", out var parameters) && parameters.ValueKind != JsonValueKind.Null)
        {
            if (parameters.ValueKind != JsonValueKind.Object)
            {
                throw LlmException.Invalid($"\"parameters\" must be an object, not {TensorJson.Kind(parameters)}", "parameters");
            }

            foreach (var property in parameters.EnumerateObject())
            {
                gathered[Known(property.Name, "parameters.")] = property.Value;
            }
        }

        return gathered;
    }

    // TensorRT-LLM's Triton clients send "stop_words" and "bad_words" (often empty) with every request: stop words are
    // stop strings; an empty list of either is nothing asked, and banned words, which the engine cannot honour, a 400.
    private static void MapTensorRtLlmWords(Dictionary<string, JsonElement> gathered)
    {
        if (gathered.Remove("bad_words", out var bad) && !IsEmptyWords(bad))
        {
            throw LlmException.Invalid("'bad_words' is not supported here (no banned-word filter); leave it out or send it empty", "bad_words", "unsupported_parameter");
        }

        if (gathered.Remove("stop_words", out var stopWords) && !IsEmptyWords(stopWords))
        {
            if (gathered.TryGetValue("stop", out var stop) && stop.ValueKind != JsonValueKind.Null)
            {
                throw LlmException.Invalid("give 'stop' or 'stop_words', not both", "stop_words");
            }

            gathered["stop"] = stopWords;
        }
    }

    private static bool IsEmptyWords(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.Null => true,
        JsonValueKind.String => value.GetString()!.Length == 0,
        JsonValueKind.Array => value.GetArrayLength() == 0,
        _ => false,
    };

    private static string Known(string name, string where) => Array.IndexOf(Parameters, name) >= 0
        ? name
        : throw LlmException.Invalid(
            $"{(where.Length == 0 ? "property" : "parameter")} \"{where}{Excerpt(name)}\" is not supported: the generate extension here reads \"text_input\" and the parameters " +
            $"{string.Join(", ", Parameters)}",
            where + name,
            "unsupported_parameter");

    private static string Excerpt(string text) => text.Length <= 40 ? text : text[..40] + "...";

    // The model key as /v1 names it: a version number in the path is that version, anything else an alias.
    private static string Reference(string model, string? version) =>
        version is null ? model
        : version.Length > 0 && version.All(char.IsAsciiDigit) ? $"{model}/versions/{version}"
        : $"{model}:{version}";

    // A tensor model the caller can see is the caller's mistake of route: 400 naming /infer (not /v1's 404). Looked up
    // only once the LLM core did not find the model, so that a call to a language model costs no extra registry read.
    private static async Task RefuseTensorModelAsync(HttpContext ctx, IModelRegistry registry, string reference, string model, CancellationToken cancellationToken)
    {
        var access = await ctx.CheckModelAccessAsync(reference, write: false, cancellationToken);
        if (access.Result == ModelAccessResult.Hidden || !ModelReference.TryParse(access.Reference, out var parsed))
        {
            return; // answered by OpenAsync, as /v1 answers it
        }

        ResolvedVersion resolved;
        try
        {
            resolved = await registry.ResolveAsync(parsed, cancellationToken);
        }
        catch (RegistryException)
        {
            return; // answered by OpenAsync, as /v1 answers it
        }

        if (resolved.Version.Format != ModelFormat.Gguf)
        {
            var name = RegistryNames.Shorten(model);
            throw LlmException.Invalid(
                $"model '{name}' version {resolved.Version.Version} is an {resolved.Version.Format.ToString().ToUpperInvariant()} model; generate and generate_stream serve " +
                $"language models (GGUF): call it through POST /v2/models/{name}/infer",
                "model",
                "not_a_language_model");
        }
    }

    private static async Task RespondAsync(HttpContext ctx, LlmSession session, string model, string version, IAsyncEnumerable<ChoiceEvent> events, CancellationToken aborted)
    {
        var text = new StringBuilder();
        await foreach (var choice in events.WithCancellation(aborted))
        {
            LlmGenerationService.Meter(session, choice);
            text.Append(choice.Event.Text);
        }

        ctx.Response.ContentType = "application/json";
        await ctx.Response.Body.WriteAsync(OpenAiJson.Build(json => Write(json, model, version, text.ToString())).WrittenMemory, aborted);
    }

    // One event per piece of text; the last event is the one that ends the answer, its text_output possibly empty.
    private static async Task StreamAsync(HttpContext ctx, LlmSession session, string model, string version, IAsyncEnumerable<ChoiceEvent> events, CancellationToken aborted)
    {
        var sse = new SseWriter(ctx.Response);
        await using var enumerator = events.GetAsyncEnumerator(aborted);
        // The first token before the headers: a failure before it still gets its status and a JSON error body.
        var more = await enumerator.MoveNextAsync();
        await sse.StartAsync(aborted);
        for (; more; more = await enumerator.MoveNextAsync())
        {
            var choice = enumerator.Current;
            LlmGenerationService.Meter(session, choice);
            var e = choice.Event;
            if (e.Text.Length > 0 || e.Finish is not null)
            {
                await sse.WriteAsync(json => Write(json, model, version, e.Text), aborted);
            }
        }
    }

    private static void Write(Utf8JsonWriter json, string model, string version, string text)
    {
        json.WriteStartObject();
        json.WriteString("model_name", model);
        json.WriteString("model_version", version);
        json.WriteString("text_output", text);
        json.WriteEndObject();
    }

    private static byte[] ErrorBody(string message) => OpenAiJson.Build(json =>
    {
        json.WriteStartObject();
        json.WriteString("error", message);
        json.WriteEndObject();
    }).WrittenSpan.ToArray();

    // Before the response starts: the status for the failure and {"error": message}; after: a last SSE event of that shape.
    private static async Task FailAsync(HttpContext ctx, LlmException error)
    {
        var response = ctx.Response;
        if (!response.HasStarted)
        {
            Deployments.DeploymentRouter.ClearForError(ctx);
            response.StatusCode = OpenAiErrors.Classify(error).Status;
            if (error.RetryAfter is { } retry)
            {
                response.Headers.RetryAfter = Math.Max(1, (int)Math.Ceiling(retry.TotalSeconds)).ToString(CultureInfo.InvariantCulture);
            }

            response.ContentType = "application/json";
            await response.Body.WriteAsync(ErrorBody(error.Message), ctx.RequestAborted);
            return;
        }

        try
        {
            await new SseWriter(response).WriteRawAsync(ErrorBody(error.Message), ctx.RequestAborted);
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException or InvalidOperationException)
        {
            // Nobody is listening any more.
        }
    }
}
