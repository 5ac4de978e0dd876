using System.Diagnostics;
using System.Text.Json;
using Maas.Core.Hosting;
using Maas.Core.Llm;
using Maas.Core.Registry;
using Maas.Server.OpenAi;

namespace Maas.Server.Ollama;

/// <summary>
/// <c>POST /api/embed</c> (<c>input</c>, a string or strings, to normalised <c>embeddings</c>) and the older
/// <c>POST /api/embeddings</c> (<c>prompt</c> to one <c>embedding</c>, not normalised, as Ollama's): the same embedder,
/// queue and limits as /v1/embeddings.
/// </summary>
internal static class OllamaEmbedEndpoints
{
    public static Task EmbedAsync(HttpContext context, LlmGenerationService service, EmbeddingQueues queues, IModelRegistry registry, ModelHost host, ILoggerFactory loggers) =>
        RunAsync(context, service, queues, registry, host, loggers, legacy: false);

    public static Task EmbeddingsAsync(HttpContext context, LlmGenerationService service, EmbeddingQueues queues, IModelRegistry registry, ModelHost host,
        ILoggerFactory loggers) =>
        RunAsync(context, service, queues, registry, host, loggers, legacy: true);

    private static async Task RunAsync(HttpContext context, LlmGenerationService service, EmbeddingQueues queues, IModelRegistry registry, ModelHost host, ILoggerFactory loggers,
        bool legacy)
    {
        var started = Stopwatch.GetTimestamp();
        var aborted = context.RequestAborted;
        await OllamaEndpoint.RunAsync(context, loggers, async () =>
        {
            var request = OllamaRequestReader.ReadEmbed(await OpenAiRequestReader.ReadBodyAsync(context.Request, aborted), service.Options, legacy);
            var reference = await OllamaModelNames.ResolveAsync(context, registry, request.Model, aborted);
            using (var session = await service.OpenAsync(context, reference, aborted, request.KeepAlive?.HostKeepAlive))
            {
                var loaded = Stopwatch.GetElapsedTime(started);
                var info = session.Engine.Info;
                if (request.Dimensions is { } dimensions && dimensions != info.EmbeddingSize)
                {
                    throw LlmException.Invalid($"'dimensions' is {dimensions}, but this model's embeddings have {info.EmbeddingSize} dimensions and cannot be shortened",
                        "dimensions", "unsupported_value");
                }

                // Nothing to embed (no input, or the older route's empty prompt): the model is loaded and the answer empty, as Ollama's.
                var texts = request.Inputs.Where(i => i.Text!.Length > 0).ToList();
                IReadOnlyList<float[]> vectors = [];
                var promptTokens = 0;
                if (texts.Count > 0)
                {
                    var inputs = EmbeddingsEndpoint.Tokenize(texts, session.Engine, service.Options.MaxEmbeddingTokens, request.Truncate);
                    (vectors, promptTokens) = await EmbeddingsEndpoint.EmbedAsync(session, queues, request.Model, inputs, normalize: !legacy, aborted);
                }

                await OllamaEndpoint.WriteJsonAsync(context, json =>
                {
                    json.WriteStartObject();
                    if (legacy)
                    {
                        WriteVector(json, "embedding", vectors.Count > 0 ? vectors[0] : []);
                        json.WriteEndObject();
                        return;
                    }

                    json.WriteString("model", request.Model);
                    json.WriteStartArray("embeddings");
                    foreach (var vector in vectors)
                    {
                        WriteVector(json, null, vector);
                    }

                    json.WriteEndArray();
                    json.WriteNumber("total_duration", OllamaEndpoint.Nanoseconds(Stopwatch.GetElapsedTime(started)));
                    json.WriteNumber("load_duration", OllamaEndpoint.Nanoseconds(loaded));
                    json.WriteNumber("prompt_eval_count", promptTokens);
                    json.WriteEndObject();
                });
            }

            await OllamaKeepAlive.AfterRequestAsync(request.KeepAlive, host);
        });
    }

    private static void WriteVector(Utf8JsonWriter json, string? name, float[] vector)
    {
        if (name is null)
        {
            json.WriteStartArray();
        }
        else
        {
            json.WriteStartArray(name);
        }

        foreach (var v in vector)
        {
            json.WriteNumberValue(float.IsFinite(v) ? v : 0f);
        }

        json.WriteEndArray();
    }
}
