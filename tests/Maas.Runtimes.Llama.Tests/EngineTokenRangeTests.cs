using Maas.Core.Llm;
using Maas.Runtimes.Llama.Serving;

namespace Maas.Runtimes.Llama.Tests;

/// <summary>
/// Token ids that come with a request (a prompt given as ids, logit bias keys, embedding inputs) are checked against
/// the vocabulary by the engine itself, before anything reaches llama.cpp: llama.cpp reads its tables at an id without
/// a bounds check, and an id llama_decode refuses fails every sequence decoded in the same batch.
/// </summary>
[Collection(LlamaCollection.Name)]
public sealed class EngineTokenRangeTests(LlamaTestModels models)
{
    [Fact]
    public async Task Ids_outside_the_vocabulary_are_refused_naming_the_id_and_the_size_and_a_generation_beside_them_goes_on()
    {
        await using var engine = models.ContextSensitiveEngine(batchSize: 128, prefixCache: false, unified: false, slots: 2);
        var size = engine.Info.VocabularySize;
        int[] prompt = [.. engine.Tokenize("a generation that runs beside the refused requests", addSpecial: true, parseSpecial: false)];

        // A generation in flight: were a bad prompt admitted, it would be decoded in the same batch as this one.
        var firstToken = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var running = DrainAsync(engine, LlamaTestModels.Greedy(prompt, 120), firstToken);
        await firstToken.Task;

        foreach (var id in new[] { size, size + 1, int.MaxValue, -1, int.MinValue })
        {
            var error = Assert.Throws<LlmException>(() => engine.GenerateAsync(LlamaTestModels.Greedy([.. prompt[..3], id, 5], 4), CancellationToken.None));
            AssertNames(error, "prompt", id, size);
        }

        var bias = new GenerationRequest
        {
            PromptTokens = prompt,
            MaxTokens = 4,
            Sampling = new SamplingOptions { LogitBias = new Dictionary<int, float> { [7] = 1f, [size + 7] = -100f } },
        };
        AssertNames(Assert.Throws<LlmException>(() => engine.GenerateAsync(bias, CancellationToken.None)), "logit_bias", size + 7, size);

        var embedding = await Assert.ThrowsAsync<LlmException>(() => engine.EmbedAsync([prompt, [5, size * 2]], normalize: true, CancellationToken.None));
        AssertNames(embedding, "input", size * 2, size);
        Assert.Contains("input 1", embedding.Message, StringComparison.Ordinal);

        var events = await running;
        Assert.Equal(FinishReason.Length, events[^1].Finish);
        Assert.Equal(120, events[^1].Usage!.CompletionTokens);
        Assert.Equal(0, engine.GetStatistics().Waiting);

        // The ids at the edges of the vocabulary are ordinary tokens.
        var edges = await DrainAsync(engine, LlamaTestModels.Greedy([0, 1, size - 1], 2), null);
        Assert.Equal(2, edges[^1].Usage!.CompletionTokens);
        var vectors = await engine.EmbedAsync([[0, size - 1]], normalize: true, CancellationToken.None);
        Assert.Equal(engine.Info.EmbeddingSize, vectors[0].Length);
    }

    private static void AssertNames(LlmException error, string param, int id, int size)
    {
        Assert.Equal(LlmErrorKind.InvalidRequest, error.Kind);
        Assert.Equal(param, error.Param);
        Assert.Contains($"token id {id}", error.Message, StringComparison.Ordinal);
        Assert.Contains($"{size} tokens", error.Message, StringComparison.Ordinal);
    }

    private static async Task<List<GenerationEvent>> DrainAsync(LlamaEngine engine, GenerationRequest request, TaskCompletionSource? firstToken)
    {
        var events = new List<GenerationEvent>();
        await foreach (var e in engine.GenerateAsync(request, CancellationToken.None))
        {
            events.Add(e);
            firstToken?.TrySetResult();
        }

        return events;
    }
}
