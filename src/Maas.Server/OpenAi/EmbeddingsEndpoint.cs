using System.Buffers;
using System.Runtime.InteropServices;
using Maas.Core.Llm;
using Maas.Server.Auth;

namespace Maas.Server.OpenAi;

/// <summary><c>POST /v1/embeddings</c>: pooled sentence embeddings of one or many inputs, as floats or base64.</summary>
internal static class EmbeddingsEndpoint
{
    public static async Task HandleAsync(HttpContext context, LlmGenerationService service, EmbeddingQueues queues, ILoggerFactory loggers)
    {
        var aborted = context.RequestAborted;
        await OpenAiEndpoint.RunAsync(context, loggers, async () =>
        {
            var request = OpenAiRequestReader.ReadEmbedding(await OpenAiRequestReader.ReadBodyAsync(context.Request, aborted), service.Options);
            using var session = await service.OpenAsync(context, request.Model, aborted);
            var engine = session.Engine;
            var info = engine.Info;
            if (request.Dimensions is { } dimensions && dimensions != info.EmbeddingSize)
            {
                throw LlmException.Invalid($"'dimensions' is {dimensions}, but this model's embeddings have {info.EmbeddingSize} dimensions and cannot be shortened", "dimensions",
                    "unsupported_value");
            }

            var inputs = Tokenize(request.Inputs, engine, service.Options.MaxEmbeddingTokens);
            var (vectors, promptTokens) = await EmbedAsync(session, queues, request.Model, inputs, request.Normalize, aborted);
            var buffer = Response(request, vectors, promptTokens);
            context.Response.ContentType = "application/json";
            await context.Response.Body.WriteAsync(buffer.WrittenMemory, aborted);
        });
    }

    /// <summary>
    /// Embeds tokenized inputs and meters their tokens. The embedder computes one request at a time: the others wait in
    /// a bounded line, for a bounded time, and leave it when their caller hangs up.
    /// </summary>
    internal static async Task<(IReadOnlyList<float[]> Vectors, int PromptTokens)> EmbedAsync(
        LlmSession session, EmbeddingQueues queues, string model, IReadOnlyList<IReadOnlyList<int>> inputs, bool normalize, CancellationToken cancellationToken)
    {
        var engine = session.Engine;
        foreach (var input in inputs)
        {
            session.KeepPrompt(input);
        }

        IReadOnlyList<float[]> vectors;
        using (await queues.For(engine, session.Resolved.Spec).EnterAsync(model, cancellationToken))
        {
            vectors = await engine.EmbedAsync(inputs, normalize, cancellationToken);
        }

        var promptTokens = inputs.Sum(t => t.Count);
        session.Context.Usage().ReportTokens(promptTokens, 0);
        session.Timer.Embedded(promptTokens);
        return (vectors, promptTokens);
    }

    /// <summary>
    /// Every input's tokens, checked against the per-request total, the model's context and its vocabulary; with
    /// <paramref name="truncate"/> an input longer than the context is cut to it instead of refused (Ollama's default).
    /// </summary>
    internal static List<IReadOnlyList<int>> Tokenize(IReadOnlyList<PromptInput> requestInputs, ILlmEngine engine, int maxTokens, bool truncate = false)
    {
        var info = engine.Info;
        var inputs = new List<IReadOnlyList<int>>();
        long total = 0;
        foreach (var input in requestInputs)
        {
            var tokens = input.Tokens ?? engine.Tokenize(input.Text!, addSpecial: true, parseSpecial: false);
            if (truncate && tokens.Count > info.ContextPerSlot)
            {
                tokens = [.. tokens.Take(info.ContextPerSlot)];
            }

            total += tokens.Count;
            if (total > maxTokens)
            {
                throw LlmException.Invalid(
                    $"'input' holds more than {maxTokens} tokens (inputs 0 to {inputs.Count} have {total}); at most {maxTokens} tokens summed across all inputs are allowed per " +
                    $"request (Maas:Llm:MaxEmbeddingTokens)",
                    "input",
                    "max_tokens_per_request");
            }

            if (tokens.Count > info.ContextPerSlot)
            {
                throw new LlmException(
                    LlmErrorKind.ContextOverflow,
                    $"This model's maximum context length is {info.ContextPerSlot} tokens, however input {inputs.Count} has {tokens.Count} tokens. Please reduce " +
                    $"the length of the input.",
                    "input",
                    "context_length_exceeded");
            }

            foreach (var token in tokens)
            {
                if ((uint)token >= (uint)info.VocabularySize)
                {
                    throw LlmException.Invalid($"input {inputs.Count} holds token id {token}, but the model's vocabulary has {info.VocabularySize} tokens (ids 0 to " +
                        $"{info.VocabularySize - 1})", "input");
                }
            }

            inputs.Add(tokens);
        }

        return inputs;
    }

    private static ArrayBufferWriter<byte> Response(EmbeddingRequest request, IReadOnlyList<float[]> vectors, int promptTokens)
    {
        return OpenAiJson.Build(json =>
        {
            json.WriteStartObject();
            json.WriteString("object", "list");
            json.WriteStartArray("data");
            for (var i = 0; i < vectors.Count; i++)
            {
                json.WriteStartObject();
                json.WriteString("object", "embedding");
                json.WriteNumber("index", i);
                if (request.Base64)
                {
                    // Little-endian float32, as OpenAI's base64 encoding is.
                    json.WriteBase64String("embedding", MemoryMarshal.AsBytes(vectors[i].AsSpan()));
                }
                else
                {
                    json.WriteStartArray("embedding");
                    foreach (var v in vectors[i])
                    {
                        json.WriteNumberValue(float.IsFinite(v) ? v : 0f);
                    }

                    json.WriteEndArray();
                }

                json.WriteEndObject();
            }

            json.WriteEndArray();
            json.WriteString("model", request.Model);
            json.WriteStartObject("usage");
            json.WriteNumber("prompt_tokens", promptTokens);
            json.WriteNumber("total_tokens", promptTokens);
            json.WriteEndObject();
            json.WriteEndObject();
        });
    }
}
