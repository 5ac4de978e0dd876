using System.Diagnostics;
using Maas.Runtimes.Llama;

namespace Maas.Optimization.Gguf;

/// <summary>Measures a GGUF model with llama.cpp: perplexity of a text (one pass), prompt tokens/s, greedy generation tokens/s (median step).</summary>
public static class LlmMeasurement
{
    /// <summary>The most tokens of the text evaluated (one context, one batch).</summary>
    public const int MaxTokens = 512;

    /// <summary>Tokens generated to time decoding.</summary>
    public const int GenerationTokens = 32;

    /// <summary>Untimed single-token steps before the timed ones.</summary>
    public const int WarmupTokens = 4;

    /// <summary>Loads <paramref name="path"/> and measures it on <paramref name="text"/> with <paramref name="threads"/> threads.</summary>
    /// <exception cref="LlamaException">llama.cpp failed to load or run the model.</exception>
    public static LlmMeasurementResult Measure(string path, string text, int threads, CancellationToken cancellationToken)
    {
        using var model = LlamaModel.Load(path, cancellationToken: cancellationToken);
        var all = model.Tokenizer.Tokenize(text, addSpecial: true);
        var tokens = all.Length > MaxTokens ? all[..MaxTokens] : all;
        if (tokens.Length < 2)
        {
            throw new ArgumentException("the text is shorter than two tokens", nameof(text));
        }

        var n = tokens.Length;
        using var context = model.CreateContext(new LlamaContextOptions
        {
            ContextSize = (uint)(n + GenerationTokens + WarmupTokens + 8),
            BatchSize = (uint)n,
            MicroBatchSize = (uint)n,
            SequenceCount = 1,
            Threads = threads,
            BatchThreads = threads,
        });
        using var batch = new LlamaBatch(n);
        for (var i = 0; i < n; i++)
        {
            batch.Add(tokens[i], i, 0, output: true);
        }

        var start = Stopwatch.GetTimestamp();
        context.Decode(batch, cancellationToken);
        var promptSeconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
        double negativeLogLikelihood = 0;
        for (var i = 0; i < n - 1; i++)
        {
            negativeLogLikelihood -= LlamaLogits.LogProbability(context.GetLogits(i), tokens[i + 1]);
        }

        // Greedy decoding after the text, one token per call, as a served request decodes. The first calls build the
        // single-token graph and are not timed; the median step is, so one busy moment of the machine does not count.
        var next = ArgMax(context.GetLogits(n - 1));
        using var single = new LlamaBatch(1);
        var steps = new double[GenerationTokens];
        for (var g = 0; g < GenerationTokens + WarmupTokens; g++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            single.Clear();
            single.Add(next, n + g, 0, output: true);
            start = Stopwatch.GetTimestamp();
            context.Decode(single, cancellationToken);
            if (g >= WarmupTokens)
            {
                steps[g - WarmupTokens] = Stopwatch.GetElapsedTime(start).TotalSeconds;
            }

            next = ArgMax(context.GetLogits(0));
        }

        Array.Sort(steps);
        var medianStep = steps[steps.Length / 2];
        return new LlmMeasurementResult(
            Math.Exp(negativeLogLikelihood / (n - 1)),
            n,
            n / Math.Max(promptSeconds, 1e-9),
            1 / Math.Max(medianStep, 1e-9),
            GenerationTokens);
    }

    private static int ArgMax(ReadOnlySpan<float> logits)
    {
        var best = 0;
        for (var i = 1; i < logits.Length; i++)
        {
            if (logits[i] > logits[best])
            {
                best = i;
            }
        }

        return best;
    }
}
