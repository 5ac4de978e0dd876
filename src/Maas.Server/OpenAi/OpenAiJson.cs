using System.Buffers;
using System.Text.Json;
using Maas.Core.Llm;

namespace Maas.Server.OpenAi;

/// <summary>Pieces of OpenAI response bodies written straight to a <see cref="Utf8JsonWriter"/>.</summary>
internal static class OpenAiJson
{
    public static readonly JsonWriterOptions WriterOptions = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public static string NewId(string prefix) => prefix + Guid.NewGuid().ToString("N")[..24];

    public static long Now() => DateTimeOffset.UtcNow.ToUnixTimeSeconds();

    public static string Fingerprint(ResolvedLlm model) => $"maas-{model.Spec.Name}-v{model.Spec.Version}";

    public static string FinishReasonText(FinishReason reason) => reason == FinishReason.Length ? "length" : "stop";

    /// <summary>A streamed choice's finish_reason: null until its last chunk.</summary>
    public static void WriteStreamFinishReason(Utf8JsonWriter json, FinishReason? reason)
    {
        if (reason is { } finished)
        {
            json.WriteString("finish_reason", FinishReasonText(finished));
        }
        else
        {
            json.WriteNull("finish_reason");
        }
    }

    /// <summary>
    /// The usage of a streamed chunk: null on every chunk when the totals come as a chunk of their own
    /// (<c>stream_options.include_usage</c>), else the totals on the last chunk only.
    /// </summary>
    public static void WriteStreamUsage(Utf8JsonWriter json, bool includeUsage, Func<LlmUsage>? lastChunkTotals)
    {
        if (includeUsage)
        {
            json.WriteNull("usage");
        }
        else if (lastChunkTotals is not null)
        {
            WriteUsage(json, lastChunkTotals());
        }
    }

    /// <summary>usage with OpenAI's token details (cached prompt tokens come from the prefix cache).</summary>
    public static void WriteUsage(Utf8JsonWriter json, LlmUsage usage)
    {
        json.WriteStartObject("usage");
        json.WriteNumber("prompt_tokens", usage.PromptTokens);
        json.WriteNumber("completion_tokens", usage.CompletionTokens);
        json.WriteNumber("total_tokens", usage.TotalTokens);
        json.WriteStartObject("prompt_tokens_details");
        json.WriteNumber("cached_tokens", usage.CachedPromptTokens);
        json.WriteNumber("audio_tokens", 0);
        json.WriteEndObject();
        json.WriteStartObject("completion_tokens_details");
        json.WriteNumber("reasoning_tokens", 0);
        json.WriteNumber("audio_tokens", 0);
        json.WriteNumber("accepted_prediction_tokens", 0);
        json.WriteNumber("rejected_prediction_tokens", 0);
        json.WriteEndObject();
        json.WriteEndObject();
    }

    /// <summary>Chat logprobs: <c>{"content": [{token, logprob, bytes, top_logprobs}], "refusal": null}</c>.</summary>
    public static void WriteChatLogprobs(Utf8JsonWriter json, IReadOnlyList<TokenLogprob>? tokens)
    {
        if (tokens is null)
        {
            json.WriteNull("logprobs");
            return;
        }

        json.WriteStartObject("logprobs");
        json.WriteStartArray("content");
        foreach (var t in tokens)
        {
            json.WriteStartObject();
            WriteTokenFields(json, t.Token, t.Logprob, t.Bytes);
            json.WriteStartArray("top_logprobs");
            foreach (var top in t.Top)
            {
                json.WriteStartObject();
                WriteTokenFields(json, top.Token, top.Logprob, top.Bytes);
                json.WriteEndObject();
            }

            json.WriteEndArray();
            json.WriteEndObject();
        }

        json.WriteEndArray();
        json.WriteNull("refusal");
        json.WriteEndObject();
    }

    /// <summary>
    /// Legacy completions logprobs: parallel arrays of tokens, their logprobs, alternatives and text offsets. The
    /// <paramref name="prompt"/>'s tokens (echo with logprobs) come first, their offsets from 0 (the echoed text's
    /// start), then <paramref name="tokens"/> from <paramref name="textOffset"/>; an unscored token (a prompt's first)
    /// has a null logprob and null alternatives.
    /// </summary>
    public static void WriteCompletionLogprobs(Utf8JsonWriter json, IReadOnlyList<TokenLogprob>? tokens, int textOffset, IReadOnlyList<TokenLogprob>? prompt = null)
    {
        if (tokens is null)
        {
            json.WriteNull("logprobs");
            return;
        }

        IReadOnlyList<TokenLogprob> all = prompt is { Count: > 0 } ? [.. prompt, .. tokens] : tokens;
        json.WriteStartObject("logprobs");
        json.WriteStartArray("tokens");
        foreach (var t in all)
        {
            json.WriteStringValue(t.Token);
        }

        json.WriteEndArray();
        json.WriteStartArray("token_logprobs");
        foreach (var t in all)
        {
            if (t.Unscored)
            {
                json.WriteNullValue();
            }
            else
            {
                json.WriteNumberValue(float.IsNegativeInfinity(t.Logprob) ? -9999f : t.Logprob);
            }
        }

        json.WriteEndArray();
        json.WriteStartArray("top_logprobs");
        foreach (var t in all)
        {
            if (t.Unscored)
            {
                json.WriteNullValue();
                continue;
            }

            json.WriteStartObject();
            foreach (var top in t.Top)
            {
                json.WriteNumber(top.Token, float.IsNegativeInfinity(top.Logprob) ? -9999f : top.Logprob);
            }

            json.WriteEndObject();
        }

        json.WriteEndArray();
        json.WriteStartArray("text_offset");
        var promptOffset = 0;
        foreach (var t in prompt ?? [])
        {
            json.WriteNumberValue(promptOffset);
            promptOffset += t.Token.Length;
        }

        foreach (var t in tokens)
        {
            json.WriteNumberValue(textOffset);
            textOffset += t.Token.Length;
        }

        json.WriteEndArray();
        json.WriteEndObject();
    }

    /// <summary>A token's <c>token</c>, <c>logprob</c> (-9999 for minus infinity) and <c>bytes</c>.</summary>
    public static void WriteTokenFields(Utf8JsonWriter json, string token, float logprob, byte[] bytes)
    {
        json.WriteString("token", token);
        json.WriteNumber("logprob", float.IsNegativeInfinity(logprob) ? -9999f : logprob);
        json.WriteStartArray("bytes");
        foreach (var b in bytes)
        {
            json.WriteNumberValue(b);
        }

        json.WriteEndArray();
    }

    /// <summary>Serialises one JSON value built by <paramref name="write"/>.</summary>
    public static ArrayBufferWriter<byte> Build(Action<Utf8JsonWriter> write)
    {
        var buffer = new ArrayBufferWriter<byte>(1024);
        using var json = new Utf8JsonWriter(buffer, WriterOptions);
        write(json);
        json.Flush();
        return buffer;
    }
}
