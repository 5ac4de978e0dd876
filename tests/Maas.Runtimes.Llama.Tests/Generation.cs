namespace Maas.Runtimes.Llama.Tests;

/// <summary>Small generation loops the tests share.</summary>
internal static class Generation
{
    /// <summary>Decodes <paramref name="prompt"/> into <paramref name="sequence"/> and samples <paramref name="count"/> tokens with <paramref name="sampler"/>.</summary>
    public static List<int> Generate(LlamaContext context, LlamaSamplerChain sampler, int[] prompt, int count, int sequence = 0, bool stopAtEndOfGeneration = false)
    {
        using var batch = new LlamaBatch(Math.Max(prompt.Length, 1));
        batch.AddRange(prompt, 0, sequence);
        context.Decode(batch);
        var position = prompt.Length;
        var output = new List<int>();
        for (var i = 0; i < count; i++)
        {
            var token = sampler.Sample(context, batch.Count - 1);
            output.Add(token);
            if (stopAtEndOfGeneration && context.Model.Tokenizer.IsEndOfGeneration(token))
            {
                break;
            }

            batch.Clear();
            batch.Add(token, position++, sequence, output: true);
            context.Decode(batch);
        }

        return output;
    }

    public static LlamaSamplerChain Greedy() => new LlamaSamplerChain().AddGreedy();
}
