using System.Text.Json;
using Maas.Core.Llm;
using Maas.Server.Auth;

namespace Maas.Server.OpenAi;

/// <summary><c>POST /v1/completions</c>: the legacy text completion API, for one prompt or several (text or token ids).</summary>
internal static class CompletionsEndpoint
{
    public static async Task HandleAsync(HttpContext context, LlmGenerationService service, LlmShadowCopies copies, ILoggerFactory loggers)
    {
        var aborted = context.RequestAborted;
        await OpenAiEndpoint.RunAsync(context, loggers, async () =>
        {
            var request = OpenAiRequestReader.ReadCompletion(await OpenAiRequestReader.ReadBodyAsync(context.Request, aborted), service.Options);
            var p = request.Parameters;
            using var session = await service.OpenAsync(context, p.Model, aborted);
            var engine = session.Engine;
            var id = OpenAiJson.NewId("cmpl-");
            var requests = new List<GenerationRequest>();
            var echoes = new List<string>();
            var promptTokens = 0;
            var counts = new List<int>();
            var choiceOf = new List<int>(); // the choice each engine request answers (all, in order, but for shared scoring)
            // Echo with logprobs scores the prompts too: the engine decodes each whole and returns its tokens' logprobs.
            var scoring = request.Echo && p.Logprobs;
            // max_tokens 0 (only with echo): the prompts come back alone; nothing is generated, so the model is not run
            // unless it scores them.
            var echoOnly = p.MaxTokens == 0 && !scoring;
            for (var i = 0; i < request.Prompts.Count; i++)
            {
                var input = request.Prompts[i];
                var tokens = input.Tokens ?? engine.Tokenize(input.Text!, addSpecial: true, parseSpecial: true);
                promptTokens += tokens.Count;
                counts.Add(tokens.Count);
                if (echoOnly)
                {
                    LlmGenerationService.Check(engine, tokens, p);
                }
                else
                {
                    var prepared = service.Prepare(session, tokens, p, [], request.Prompts.Count == 1 ? id : $"{id}/p{i}");
                    for (var c = 0; c < prepared.Count; c++)
                    {
                        // A prompt is scored once, by its first choice; its other choices get those logprobs
                        // (SharePromptLogprobs) and, with max_tokens 0, have nothing left to run.
                        if (scoring && c > 0 && p.MaxTokens == 0)
                        {
                            continue;
                        }

                        choiceOf.Add((i * p.N) + c);
                        requests.Add(scoring && c == 0 ? prepared[c] with { PromptLogprobs = true } : prepared[c]);
                    }
                }

                echoes.Add(!request.Echo ? "" : input.Text ?? engine.Detokenize(tokens, renderSpecial: false));
            }

            if (echoOnly)
            {
                context.Usage().ReportTokens(promptTokens, 0);
            }

            var events = echoOnly ? EchoOnly(counts, p.N)
                : scoring && p.N > 1 ? SharePromptLogprobs(service.Start(session, requests, aborted), choiceOf, p.N, counts, othersRun: p.MaxTokens > 0)
                : service.Start(session, requests, aborted);
            var total = counts.Count * p.N;
            if (p.Stream)
            {
                await StreamAsync(context, session, p, id, events, total, promptTokens, echoes, aborted);
            }
            else
            {
                await RespondAsync(context, session, p, id, events, total, promptTokens, echoes, aborted);
            }

            if (p.MaxTokens == 0)
            {
                return; // nothing was generated: a deployment's other versions have nothing to compare
            }

            copies.Offer(session, p, other =>
                [.. request.Prompts.Select(input => new Deployments.TextPrompt(input.Tokens ?? other.Tokenize(input.Text!, addSpecial: true, parseSpecial: true), []))]);
        });
    }

    // The events of choices that generate nothing: each ends at once with finish_reason "length" (max_tokens 0 was
    // reached), its usage counting its prompt.
    private static async IAsyncEnumerable<ChoiceEvent> EchoOnly(List<int> promptTokens, int n)
    {
        await Task.CompletedTask;
        for (var i = 0; i < promptTokens.Count * n; i++)
        {
            yield return new ChoiceEvent(i, new GenerationEvent { Finish = FinishReason.Length, Usage = new LlmUsage(promptTokens[i / n], 0, 0) });
        }
    }

    // Echo with logprobs and n > 1: each prompt is scored once, by its first choice, and each of its other choices
    // gets the same prompt logprobs on an event of its own ahead of its own events (held until the scoring arrives),
    // as a choice that scored the prompt itself would have. Without othersRun (max_tokens 0) the other choices were not
    // run: each then ends at once, as the first did. Events come in with the engine request's index (choiceOf maps it).
    private static async IAsyncEnumerable<ChoiceEvent> SharePromptLogprobs(IAsyncEnumerable<ChoiceEvent> events, List<int> choiceOf, int n, List<int> promptTokens, bool othersRun)
    {
        var scored = new bool[promptTokens.Count];
        var held = new List<ChoiceEvent>?[promptTokens.Count];
        await foreach (var engineEvent in events)
        {
            var e = engineEvent with { Index = choiceOf[engineEvent.Index] };
            var prompt = e.Index / n;
            if (e.Index % n != 0)
            {
                if (scored[prompt])
                {
                    yield return e;
                }
                else
                {
                    (held[prompt] ??= []).Add(e);
                }

                continue;
            }

            yield return e;
            if (e.Event.PromptLogprobs is not { } logprobs || scored[prompt])
            {
                continue;
            }

            scored[prompt] = true;
            for (var c = 1; c < n; c++)
            {
                yield return new ChoiceEvent((prompt * n) + c, new GenerationEvent { PromptLogprobs = logprobs });
                if (!othersRun)
                {
                    yield return new ChoiceEvent((prompt * n) + c, new GenerationEvent { Finish = FinishReason.Length, Usage = new LlmUsage(promptTokens[prompt], 0, 0) });
                }
            }

            foreach (var waiting in held[prompt] ?? [])
            {
                yield return waiting;
            }

            held[prompt] = null;
        }

        // Only if a first choice ended without its prompt's logprobs (the engine always sends them first): as they came.
        foreach (var waiting in held.SelectMany(h => h ?? []))
        {
            yield return waiting;
        }
    }

    private static LlmUsage Usage(IEnumerable<LlmUsage?> parts, int promptTokens, int n)
    {
        var list = parts.Select(u => u!).ToArray();
        // Each prompt counts once however many choices it has; cached tokens likewise come from each prompt's first
        // choice, summed over the prompts (choices are in prompt order, n per prompt).
        var cached = 0;
        for (var i = 0; i < list.Length; i += n)
        {
            cached += list[i].CachedPromptTokens;
        }

        return new LlmUsage(promptTokens, list.Sum(u => u.CompletionTokens), cached);
    }

    private static async Task RespondAsync(HttpContext context, LlmSession session, GenerationParameters p, string id, IAsyncEnumerable<ChoiceEvent> events, int total,
        int promptTokens, List<string> echoes, CancellationToken aborted)
    {
        var choices = Enumerable.Range(0, total).Select(_ => new ChatCompletionsEndpoint.ChoiceResult()).ToArray();
        var prompts = new IReadOnlyList<TokenLogprob>?[total];
        await foreach (var choice in events)
        {
            prompts[choice.Index] ??= choice.Event.PromptLogprobs;
            choices[choice.Index].Add(choice.Event);
            LlmGenerationService.Meter(session, choice);
        }

        var buffer = OpenAiJson.Build(json =>
        {
            json.WriteStartObject();
            json.WriteString("id", id);
            json.WriteString("object", "text_completion");
            json.WriteNumber("created", OpenAiJson.Now());
            json.WriteString("model", p.Model);
            json.WriteString("system_fingerprint", OpenAiJson.Fingerprint(session.Resolved));
            json.WriteStartArray("choices");
            for (var i = 0; i < choices.Length; i++)
            {
                var echo = echoes[i / p.N];
                json.WriteStartObject();
                json.WriteString("text", echo + choices[i].Text.ToString());
                json.WriteNumber("index", i);
                OpenAiJson.WriteCompletionLogprobs(json, p.Logprobs ? choices[i].Logprobs : null, echo.Length, prompts[i]);
                json.WriteString("finish_reason", OpenAiJson.FinishReasonText(choices[i].Finish));
                json.WriteEndObject();
            }

            json.WriteEndArray();
            OpenAiJson.WriteUsage(json, Usage(choices.Select(c => c.Usage), promptTokens, p.N));
            json.WriteEndObject();
        });
        context.Response.ContentType = "application/json";
        await context.Response.Body.WriteAsync(buffer.WrittenMemory, aborted);
    }

    private static async Task StreamAsync(HttpContext context, LlmSession session, GenerationParameters p, string id, IAsyncEnumerable<ChoiceEvent> events, int total,
        int promptTokens, List<string> echoes, CancellationToken aborted)
    {
        var sse = new SseWriter(context.Response);
        var created = OpenAiJson.Now();
        var fingerprint = OpenAiJson.Fingerprint(session.Resolved);
        var usages = new LlmUsage?[total];
        var offsets = new int[total];
        var started = new bool[total];
        var finished = 0;

        await using var enumerator = events.GetAsyncEnumerator(aborted);
        var more = await enumerator.MoveNextAsync();
        await sse.StartAsync(aborted);
        for (; more; more = await enumerator.MoveNextAsync())
        {
            var (index, e) = enumerator.Current;
            LlmGenerationService.Meter(session, enumerator.Current);
            if (e.Finish is not null)
            {
                usages[index] = e.Usage;
                finished++;
            }

            var text = e.Text;
            if (!started[index])
            {
                started[index] = true;
                text = echoes[index / p.N] + text;
            }

            if (text.Length == 0 && e.Finish is null && (e.Logprobs is null || e.Logprobs.Count == 0) && e.PromptLogprobs is null)
            {
                continue;
            }

            var last = finished == total && e.Finish is not null;
            var offset = offsets[index];
            offsets[index] += text.Length;
            await sse.WriteAsync(json => WriteTextChunk(json, id, created, fingerprint, p, index, text, offset, e, last ? () => Usage(usages, promptTokens, p.N) : null), aborted);
        }

        if (p.IncludeUsage)
        {
            await sse.WriteAsync(json => WriteUsageChunk(json, id, created, p.Model, Usage(usages, promptTokens, p.N)), aborted);
        }

        await sse.DoneAsync(aborted);
    }

    // One choice's piece of text (with its logprobs and finish reason); the usage rides on the last chunk when asked for.
    private static void WriteTextChunk(
        Utf8JsonWriter json, string id, long created, string fingerprint, GenerationParameters p, int index, string text, int offset, GenerationEvent e, Func<LlmUsage>? usage)
    {
        json.WriteStartObject();
        json.WriteString("id", id);
        json.WriteString("object", "text_completion");
        json.WriteNumber("created", created);
        json.WriteString("model", p.Model);
        json.WriteString("system_fingerprint", fingerprint);
        json.WriteStartArray("choices");
        json.WriteStartObject();
        json.WriteString("text", text);
        json.WriteNumber("index", index);
        OpenAiJson.WriteCompletionLogprobs(json, p.Logprobs ? e.Logprobs ?? [] : null, offset, e.PromptLogprobs);
        OpenAiJson.WriteStreamFinishReason(json, e.Finish);
        json.WriteEndObject();
        json.WriteEndArray();
        OpenAiJson.WriteStreamUsage(json, p.IncludeUsage, usage);
        json.WriteEndObject();
    }

    // stream_options.include_usage's final chunk: no choices, the totals.
    private static void WriteUsageChunk(Utf8JsonWriter json, string id, long created, string model, LlmUsage usage)
    {
        json.WriteStartObject();
        json.WriteString("id", id);
        json.WriteString("object", "text_completion");
        json.WriteNumber("created", created);
        json.WriteString("model", model);
        json.WriteStartArray("choices");
        json.WriteEndArray();
        OpenAiJson.WriteUsage(json, usage);
        json.WriteEndObject();
    }
}
