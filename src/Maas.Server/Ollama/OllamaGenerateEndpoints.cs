using System.Diagnostics;
using System.Text;
using System.Text.Json;
using Maas.Core.Hosting;
using Maas.Core.Llm;
using Maas.Core.Registry;
using Maas.Server.OpenAi;

namespace Maas.Server.Ollama;

/// <summary>
/// <c>POST /api/chat</c> and <c>POST /api/generate</c>: the same serving as /v1's chat and completions (model host,
/// continuous batching, chat template, sampling, limits, metering), answered in Ollama's shape: NDJSON lines while the
/// answer comes (the default), or one object with <c>"stream": false</c>; the last carries the counts and timings.
/// </summary>
internal static class OllamaGenerateEndpoints
{
    public static Task ChatAsync(HttpContext context, LlmGenerationService service, LlmShadowCopies copies, IModelRegistry registry, ModelHost host, ILoggerFactory loggers) =>
        ServeAsync(context, new(service, copies, registry, host, loggers), chat: true, body =>
        {
            var request = OllamaRequestReader.ReadChat(body, service.Options);

            // No messages: the model is loaded (Ollama's way to preload one) and nothing is generated.
            var loadOnly = request.Messages.Count == 0;
            var messages = !loadOnly && request.Tools is { } tools ? ToolCalling.WithInstructions(request.Messages, tools) : request.Messages;
            return new Turn(request.Parameters, loadOnly, (engine, _) => ChatCompletionsEndpoint.Render(engine, messages), request.Tools, request.KeepAlive, ReturnsContext: false);
        });

    public static Task GenerateAsync(HttpContext context, LlmGenerationService service, LlmShadowCopies copies, IModelRegistry registry, ModelHost host, ILoggerFactory loggers) =>
        ServeAsync(context, new(service, copies, registry, host, loggers), chat: false, body =>
        {
            var request = OllamaRequestReader.ReadGenerate(body, service.Options);

            // raw: the prompt as written (as /v1/completions takes it); otherwise a user turn (after the system prompt,
            // if any) in the model's chat template, as Ollama renders it, after the context's tokens when one was sent.
            List<ChatMessage> messages = [.. request.System is { Length: > 0 } system ? [new ChatMessage("system", system)] : Array.Empty<ChatMessage>(),
                new ChatMessage("user", request.Prompt)];
            // The context's text, read by the serving engine while it is held: a shadow copy of another version (another
            // vocabulary, perhaps) runs later and gets it in its own tokens.
            var contextText = "";
            Deployments.TextPrompt Prompt(ILlmEngine engine, bool serving)
            {
                if (request.Raw)
                {
                    return new Deployments.TextPrompt(engine.Tokenize(request.Prompt, addSpecial: true, parseSpecial: true), []);
                }

                var turn = ChatCompletionsEndpoint.Render(engine, messages);
                if (request.Context.Count == 0)
                {
                    return turn;
                }

                if (serving)
                {
                    OllamaContext.Check(engine, request.Context);
                    contextText = engine.Detokenize(request.Context, renderSpecial: true);
                }

                var head = serving ? request.Context : engine.Tokenize(contextText, addSpecial: false, parseSpecial: true);
                return turn with { Tokens = OllamaContext.Continue(engine, head, turn.Tokens) };
            }

            // The last response carries the context to go on from, unless the prompt was raw (as Ollama).
            var p = request.Raw ? request.Parameters : request.Parameters with { ReturnTokens = true };
            return new Turn(p, request.Prompt.Length == 0, Prompt, Tools: null, request.KeepAlive, ReturnsContext: !request.Raw);
        });

    // What a chat or generate request asks: its parameters, whether it only loads the model (nothing to answer), how
    // the prompt is rendered for an engine (the one serving it, true, first; then any shadow copy's), its tools and
    // keep_alive, and whether the last response carries the context (generate's token ids).
    private sealed record Turn(GenerationParameters Parameters, bool LoadOnly, Func<ILlmEngine, bool, Deployments.TextPrompt> Prompt, ToolSelection? Tools,
        OllamaKeepAlive? KeepAlive, bool ReturnsContext);

    // The services a chat or generate request uses.
    private sealed record Services(LlmGenerationService Service, LlmShadowCopies Copies, IModelRegistry Registry, ModelHost Host, ILoggerFactory Loggers);

    // The steps chat and generate share: read the request, map its name:tag, open the model (for as long as keep_alive
    // says), answer (or only load it, or unload it), and offer the same prompt to the deployment's shadow copies.
    private static async Task ServeAsync(HttpContext context, Services s, bool chat, Func<JsonElement, Turn> read)
    {
        var started = Stopwatch.GetTimestamp();
        var aborted = context.RequestAborted;
        await OllamaEndpoint.RunAsync(context, s.Loggers, async () =>
        {
            var turn = read(await OpenAiRequestReader.ReadBodyAsync(context.Request, aborted));
            var p = turn.Parameters;
            var reference = await OllamaModelNames.ResolveAsync(context, s.Registry, p.Model, aborted);
            var answer = new Answer(p.Model, chat, started, turn.ReturnsContext);
            if (turn.LoadOnly && turn.KeepAlive is { UnloadNow: true })
            {
                // Ollama's way to unload a model: nothing to answer and keep_alive 0; it is not loaded first.
                await OllamaKeepAlive.UnloadAsync(context, s.Service, s.Host, reference, aborted);
                await answer.DoneAsync(context, "unload");
                return;
            }

            using (var session = await s.Service.OpenAsync(context, reference, aborted, turn.KeepAlive?.HostKeepAlive))
            {
                if (turn.LoadOnly)
                {
                    await answer.DoneAsync(context, "load");
                    return;
                }

                p = ForEngine(p, session.Engine);
                await answer.RunAsync(context, s.Service, session, p, turn.Prompt(session.Engine, true), turn.Tools);
                s.Copies.Offer(session, p, other => [turn.Prompt(other, false)]);
            }

            await OllamaKeepAlive.AfterRequestAsync(turn.KeepAlive, s.Host);
        });
    }

    // repeat_last_n -1 means the whole context, known once the model is.
    private static GenerationParameters ForEngine(GenerationParameters p, ILlmEngine engine) =>
        p.Sampling.PenaltyLastN < 0 ? p with { Sampling = p.Sampling with { PenaltyLastN = engine.Info.ContextPerSlot } } : p;

    /// <summary>One answer being written: the fields every line carries, and the timings the last one reports.</summary>
    private sealed class Answer(string model, bool chat, long started, bool returnsContext)
    {
        // With returnsContext: the prompt's tokens and the engine that read them, for the context the last response carries.
        private IReadOnlyList<int> _prompt = [];
        private ILlmEngine? _engine;

        private long _loaded;
        private long _evalStarted;
        private long _firstToken;

        // The alternatives per token asked for when logprobs are (0: the chosen token only); null: no logprobs.
        private int? _logprobs;

        // The answer to a request with nothing to generate: done_reason "load" or "unload".
        public Task DoneAsync(HttpContext context, string reason)
        {
            _loaded = Stopwatch.GetTimestamp();
            return OllamaEndpoint.WriteJsonAsync(context, json =>
            {
                Head(json);
                WriteText(json, "", null);
                json.WriteString("done_reason", reason);
                json.WriteBoolean("done", true);
                json.WriteEndObject();
            });
        }

        public async Task RunAsync(HttpContext context, LlmGenerationService service, LlmSession session, GenerationParameters p, Deployments.TextPrompt prompt,
            ToolSelection? tools)
        {
            var aborted = context.RequestAborted;
            _loaded = Stopwatch.GetTimestamp();
            (_prompt, _engine) = (prompt.Tokens, session.Engine);
            var requests = service.Prepare(session, prompt.Tokens, p, prompt.ExtraStops, OpenAiJson.NewId(chat ? "ollama-chat-" : "ollama-gen-"));
            _evalStarted = Stopwatch.GetTimestamp();
            var events = service.Start(session, requests, aborted);
            _logprobs = p.Logprobs ? p.TopLogprobs : null;
            if (p.Stream)
            {
                await StreamAsync(context, session, tools, events, aborted);
            }
            else
            {
                await RespondAsync(context, session, tools, events);
            }
        }

        private async Task RespondAsync(HttpContext context, LlmSession session, ToolSelection? tools, IAsyncEnumerable<ChoiceEvent> events)
        {
            var text = new StringBuilder();
            var logprobs = new List<TokenLogprob>();
            FinishReason finish = FinishReason.Stop;
            LlmUsage? usage = null;
            IReadOnlyList<int>? generated = null;
            await foreach (var choice in events)
            {
                LlmGenerationService.Meter(session, choice);
                Observe();
                text.Append(choice.Event.Text);
                logprobs.AddRange(choice.Event.Logprobs ?? []);
                if (choice.Event.Finish is { } f)
                {
                    finish = f;
                    usage = choice.Event.Usage;
                    generated = choice.Event.Tokens;
                }
            }

            var calls = tools is null ? null : ToolCalling.Parse(text.ToString(), tools);
            await OllamaEndpoint.WriteJsonAsync(context, json =>
            {
                Head(json);
                WriteText(json, calls is null ? text.ToString() : "", calls);
                WriteLogprobs(json, logprobs);
                WriteTotals(json, finish, usage, Context(generated, text.ToString()));
                json.WriteEndObject();
            });
        }

        private async Task StreamAsync(HttpContext context, LlmSession session, ToolSelection? tools, IAsyncEnumerable<ChoiceEvent> events, CancellationToken aborted)
        {
            var response = context.Response;
            var held = tools is null ? null : new ToolCallHold(1, tools);
            var answer = returnsContext ? new StringBuilder() : null;
            await using var enumerator = events.GetAsyncEnumerator(aborted);
            // The first token before the headers: a failure before it still gets its status and Ollama's error body.
            var more = await enumerator.MoveNextAsync();
            await OllamaEndpoint.StartStreamAsync(response, aborted);
            for (; more; more = await enumerator.MoveNextAsync())
            {
                var choice = enumerator.Current;
                LlmGenerationService.Meter(session, choice);
                Observe();
                var e = choice.Event;
                var (text, calls) = held is null ? (e.Text, null) : held.Take(0, e);
                answer?.Append(text);
                var logprobs = _logprobs is null ? null : e.Logprobs;
                if (text.Length > 0 || calls is not null || logprobs is { Count: > 0 })
                {
                    await OllamaEndpoint.WriteLineAsync(
                        response,
                        json =>
                        {
                            Head(json);
                            WriteText(json, text, calls);
                            WriteLogprobs(json, logprobs);
                            json.WriteBoolean("done", false);
                            json.WriteEndObject();
                        },
                        aborted);
                }

                if (e.Finish is { } finish)
                {
                    await OllamaEndpoint.WriteLineAsync(
                        response,
                        json =>
                        {
                            Head(json);
                            WriteText(json, "", null);
                            WriteTotals(json, finish, e.Usage, Context(e.Tokens, answer?.ToString() ?? ""));
                            json.WriteEndObject();
                        },
                        aborted);
                }
            }
        }

        // Ollama's logprobs, when asked for: one entry per token of this piece of the answer, each {token, logprob,
        // bytes} with top_logprobs when top_logprobs > 0; left out when there are none (as Ollama omits it when empty).
        private void WriteLogprobs(Utf8JsonWriter json, IReadOnlyList<TokenLogprob>? tokens)
        {
            if (_logprobs is not { } top || tokens is not { Count: > 0 })
            {
                return;
            }

            json.WriteStartArray("logprobs");
            foreach (var t in tokens)
            {
                json.WriteStartObject();
                OpenAiJson.WriteTokenFields(json, t.Token, t.Logprob, t.Bytes);
                if (top > 0)
                {
                    json.WriteStartArray("top_logprobs");
                    foreach (var alternative in t.Top.Take(top))
                    {
                        json.WriteStartObject();
                        OpenAiJson.WriteTokenFields(json, alternative.Token, alternative.Logprob, alternative.Bytes);
                        json.WriteEndObject();
                    }

                    json.WriteEndArray();
                }

                json.WriteEndObject();
            }

            json.WriteEndArray();
        }

        private void Observe()
        {
            if (_firstToken == 0)
            {
                _firstToken = Stopwatch.GetTimestamp();
            }
        }

        private void Head(Utf8JsonWriter json)
        {
            json.WriteStartObject();
            json.WriteString("model", model);
            json.WriteString("created_at", OllamaEndpoint.Timestamp(DateTimeOffset.UtcNow));
        }

        // Chat: message {role, content, tool_calls}; generate: response.
        private void WriteText(Utf8JsonWriter json, string text, IReadOnlyList<ToolCall>? calls)
        {
            if (!chat)
            {
                json.WriteString("response", text);
                return;
            }

            json.WriteStartObject("message");
            json.WriteString("role", "assistant");
            json.WriteString("content", text);
            if (calls is not null)
            {
                json.WriteStartArray("tool_calls");
                foreach (var call in calls)
                {
                    json.WriteStartObject();
                    json.WriteStartObject("function");
                    json.WriteString("name", call.Name);
                    // Ollama's arguments are an object, not OpenAI's JSON text.
                    json.WritePropertyName("arguments");
                    try
                    {
                        using var arguments = JsonDocument.Parse(call.Arguments);
                        arguments.RootElement.WriteTo(json);
                    }
                    catch (JsonException)
                    {
                        json.WriteStartObject();
                        json.WriteEndObject();
                    }

                    json.WriteEndObject();
                    json.WriteEndObject();
                }

                json.WriteEndArray();
            }

            json.WriteEndObject();
        }

        // The conversation so far for the last response of a generate (not raw): the prompt's tokens and the answer's.
        private IReadOnlyList<int>? Context(IReadOnlyList<int>? generated, string answer) =>
            returnsContext && _engine is { } engine ? OllamaContext.Of(engine, _prompt, generated, answer) : null;

        private void WriteTotals(Utf8JsonWriter json, FinishReason finish, LlmUsage? usage, IReadOnlyList<int>? context)
        {
            var now = Stopwatch.GetTimestamp();
            var first = _firstToken == 0 ? now : _firstToken;
            json.WriteString("done_reason", finish == FinishReason.Length ? "length" : "stop");
            json.WriteBoolean("done", true);
            if (context is not null)
            {
                json.WriteStartArray("context");
                foreach (var token in context)
                {
                    json.WriteNumberValue(token);
                }

                json.WriteEndArray();
            }

            json.WriteNumber("total_duration", Nanoseconds(started, now));
            json.WriteNumber("load_duration", Nanoseconds(started, _loaded));
            // The whole prompt (a context sent back included), tokens reused from the prefix cache too: Ollama's Go
            // runners count every prompt input (numPromptInputs is set before LoadCacheSlot trims the cached prefix),
            // and since ollama/ollama#16428 (llama-server runner) cache_n is added to prompt_n "to preserve Ollama's
            // full-context prompt_eval_count".
            json.WriteNumber("prompt_eval_count", usage?.PromptTokens ?? 0);
            json.WriteNumber("prompt_eval_duration", Nanoseconds(_evalStarted, first));
            json.WriteNumber("eval_count", usage?.CompletionTokens ?? 0);
            json.WriteNumber("eval_duration", Nanoseconds(first, now));
        }

        private static long Nanoseconds(long from, long to) => to <= from || from == 0 ? 0 : OllamaEndpoint.Nanoseconds(Stopwatch.GetElapsedTime(from, to));
    }
}
