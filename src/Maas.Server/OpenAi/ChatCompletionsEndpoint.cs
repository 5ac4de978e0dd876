using System.Text;
using System.Text.Json;
using Maas.Core.Llm;

namespace Maas.Server.OpenAi;

/// <summary><c>POST /v1/chat/completions</c>: a chat rendered with the model's template, answered whole or streamed.</summary>
internal static class ChatCompletionsEndpoint
{
    public static async Task HandleAsync(HttpContext context, LlmGenerationService service, LlmShadowCopies copies, ILoggerFactory loggers)
    {
        var aborted = context.RequestAborted;
        await OpenAiEndpoint.RunAsync(context, loggers, async () =>
        {
            var request = OpenAiRequestReader.ReadChat(await OpenAiRequestReader.ReadBodyAsync(context.Request, aborted), service.Options);
            var p = request.Parameters;
            using var session = await service.OpenAsync(context, p.Model, aborted);
            var engine = session.Engine;
            var messages = request.Tools is { } tools ? ToolCalling.WithInstructions(request.Messages, tools) : request.Messages;
            var prompt = Render(engine, messages);
            var id = OpenAiJson.NewId("chatcmpl-");
            var requests = service.Prepare(session, prompt.Tokens, p, prompt.ExtraStops, id);
            var events = service.Start(session, requests, aborted);
            if (p.Stream)
            {
                await StreamAsync(context, session, p, request.Tools, id, events, aborted);
            }
            else
            {
                await RespondAsync(context, session, p, request.Tools, id, events, aborted);
            }

            copies.Offer(session, p, other => [Render(other, messages)]);
        });
    }

    // The chat in the engine's template; models without their own template get ChatML, whose end-of-turn marker may be plain text to them.
    // Ollama's /api/chat and /api/generate render theirs the same way.
    internal static Deployments.TextPrompt Render(ILlmEngine engine, IReadOnlyList<ChatMessage> messages) =>
        new(ChatPromptTokenizer.Tokenize(engine, messages), engine.Info.ChatFormat == "chatml" ? [ChatMlFormat.EndOfTurn] : []);

    private static async Task RespondAsync(HttpContext context, LlmSession session, GenerationParameters p, ToolSelection? tools, string id, IAsyncEnumerable<ChoiceEvent> events,
        CancellationToken aborted)
    {
        var choices = Enumerable.Range(0, p.N).Select(_ => new ChoiceResult()).ToArray();
        await foreach (var choice in events)
        {
            choices[choice.Index].Add(choice.Event);
            LlmGenerationService.Meter(session, choice);
        }

        var usage = LlmUsage.Combine(choices.Select(c => c.Usage!).ToArray());
        var buffer = OpenAiJson.Build(json =>
        {
            json.WriteStartObject();
            json.WriteString("id", id);
            json.WriteString("object", "chat.completion");
            json.WriteNumber("created", OpenAiJson.Now());
            json.WriteString("model", p.Model);
            json.WriteString("system_fingerprint", OpenAiJson.Fingerprint(session.Resolved));
            json.WriteStartArray("choices");
            for (var i = 0; i < choices.Length; i++)
            {
                json.WriteStartObject();
                json.WriteNumber("index", i);
                json.WriteStartObject("message");
                json.WriteString("role", "assistant");
                var text = choices[i].Text.ToString();
                var calls = tools is null ? null : ToolCalling.Parse(text, tools);
                if (calls is null)
                {
                    json.WriteString("content", text);
                }
                else
                {
                    json.WriteNull("content");
                    ToolCalling.Write(json, calls, delta: false);
                }

                json.WriteNull("refusal");
                json.WriteEndObject();
                OpenAiJson.WriteChatLogprobs(json, p.Logprobs ? choices[i].Logprobs : null);
                json.WriteString("finish_reason", calls is null ? OpenAiJson.FinishReasonText(choices[i].Finish) : "tool_calls");
                json.WriteEndObject();
            }

            json.WriteEndArray();
            OpenAiJson.WriteUsage(json, usage);
            json.WriteEndObject();
        });
        context.Response.ContentType = "application/json";
        await context.Response.Body.WriteAsync(buffer.WrittenMemory, aborted);
    }

    private static async Task StreamAsync(HttpContext context, LlmSession session, GenerationParameters p, ToolSelection? tools, string id, IAsyncEnumerable<ChoiceEvent> events,
        CancellationToken aborted)
    {
        var sse = new SseWriter(context.Response);
        var header = new ChunkHeader(id, OpenAiJson.Now(), p.Model, OpenAiJson.Fingerprint(session.Resolved));
        var usages = new LlmUsage?[p.N];
        var finished = 0;
        var held = tools is null ? null : new ToolCallHold(p.N, tools);

        await using var enumerator = events.GetAsyncEnumerator(aborted);
        // Wait for the first token before sending headers, so a failure before it still gets a proper status.
        var hasFirst = await enumerator.MoveNextAsync();
        await sse.StartAsync(aborted);
        for (var i = 0; i < p.N; i++)
        {
            var index = i;
            await sse.WriteAsync(json => WriteRoleChunk(json, header, index, p.IncludeUsage), aborted);
        }

        for (var more = hasFirst; more; more = await enumerator.MoveNextAsync())
        {
            var (index, e) = enumerator.Current;
            LlmGenerationService.Meter(session, enumerator.Current);
            if (e.Finish is not null)
            {
                usages[index] = e.Usage;
                finished++;
            }

            var (text, calls) = held is null ? (e.Text, null) : held.Take(index, e);
            if (text.Length == 0 && e.Finish is null && (e.Logprobs is null || e.Logprobs.Count == 0))
            {
                continue;
            }

            // Not asked for, but harmless to clients and useful: the totals ride on the last chunk (as llama-server does).
            var totals = !p.IncludeUsage && finished == p.N && e.Finish is not null ? usages : null;
            await sse.WriteAsync(json => WriteDeltaChunk(json, header, index, text, calls, e, p, totals), aborted);
        }

        if (p.IncludeUsage)
        {
            await sse.WriteAsync(
                json =>
                {
                    json.WriteStartObject();
                    header.Write(json);
                    json.WriteStartArray("choices");
                    json.WriteEndArray();
                    OpenAiJson.WriteUsage(json, LlmUsage.Combine(usages.Select(u => u!).ToArray()));
                    json.WriteEndObject();
                },
                aborted);
        }

        await sse.DoneAsync(aborted);
    }

    // The first chunk of each choice: its role and empty content.
    private static void WriteRoleChunk(Utf8JsonWriter json, ChunkHeader header, int index, bool includeUsage)
    {
        json.WriteStartObject();
        header.Write(json);
        json.WriteStartArray("choices");
        json.WriteStartObject();
        json.WriteNumber("index", index);
        json.WriteStartObject("delta");
        json.WriteString("role", "assistant");
        json.WriteString("content", "");
        json.WriteEndObject();
        json.WriteNull("logprobs");
        json.WriteNull("finish_reason");
        json.WriteEndObject();
        json.WriteEndArray();
        if (includeUsage)
        {
            json.WriteNull("usage");
        }

        json.WriteEndObject();
    }

    // A chunk of one choice: new text or tool calls, logprobs, and at its end the finish reason (and, on the very
    // last chunk, the totals when they were not asked for as a chunk of their own).
    private static void WriteDeltaChunk(
        Utf8JsonWriter json, ChunkHeader header, int index, string text, IReadOnlyList<ToolCall>? calls, GenerationEvent e, GenerationParameters p, LlmUsage?[]? totals)
    {
        json.WriteStartObject();
        header.Write(json);
        json.WriteStartArray("choices");
        json.WriteStartObject();
        json.WriteNumber("index", index);
        json.WriteStartObject("delta");
        if (text.Length > 0)
        {
            json.WriteString("content", text);
        }

        if (calls is not null)
        {
            ToolCalling.Write(json, calls, delta: true);
        }

        json.WriteEndObject();
        OpenAiJson.WriteChatLogprobs(json, p.Logprobs ? e.Logprobs ?? [] : null);
        if (calls is not null)
        {
            json.WriteString("finish_reason", "tool_calls");
        }
        else
        {
            OpenAiJson.WriteStreamFinishReason(json, e.Finish);
        }

        json.WriteEndObject();
        json.WriteEndArray();
        OpenAiJson.WriteStreamUsage(json, p.IncludeUsage, totals is null ? null : () => LlmUsage.Combine(totals.Select(u => u!).ToArray()));

        json.WriteEndObject();
    }

    /// <summary>The fields every chunk of one streamed answer starts with.</summary>
    private readonly record struct ChunkHeader(string Id, long Created, string Model, string Fingerprint)
    {
        public void Write(Utf8JsonWriter json)
        {
            json.WriteString("id", Id);
            json.WriteString("object", "chat.completion.chunk");
            json.WriteNumber("created", Created);
            json.WriteString("model", Model);
            json.WriteString("system_fingerprint", Fingerprint);
        }
    }

    /// <summary>The pieces of one choice gathered for a non-streamed answer.</summary>
    internal sealed class ChoiceResult
    {
        public StringBuilder Text { get; } = new();

        public List<TokenLogprob> Logprobs { get; } = [];

        public FinishReason Finish { get; private set; }

        public LlmUsage? Usage { get; private set; }

        public void Add(GenerationEvent e)
        {
            Text.Append(e.Text);
            if (e.Logprobs is { } lp)
            {
                Logprobs.AddRange(lp);
            }

            if (e.Finish is { } f)
            {
                Finish = f;
                Usage = e.Usage;
            }
        }
    }
}
