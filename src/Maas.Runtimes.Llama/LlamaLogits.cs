namespace Maas.Runtimes.Llama;

/// <summary>Log-probabilities from a logits row, for OpenAI-style <c>logprobs</c> / <c>top_logprobs</c>.</summary>
public static class LlamaLogits
{
    /// <summary>log softmax(<paramref name="logits"/>)[<paramref name="token"/>].</summary>
    public static float LogProbability(ReadOnlySpan<float> logits, int token)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual((uint)token, (uint)logits.Length, nameof(token));
        return (float)(logits[token] - LogSumExp(logits));
    }

    /// <summary>The <paramref name="count"/> most likely tokens with their log-probabilities, most likely first.</summary>
    public static IReadOnlyList<(int Token, float LogProbability)> Top(ReadOnlySpan<float> logits, int count)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        count = Math.Min(count, logits.Length);
        if (count == 0)
        {
            return [];
        }

        // A small min-heap of the best so far: O(n log k) over a 32k-150k vocabulary.
        var heap = new PriorityQueue<int, float>(count + 1);
        for (var i = 0; i < logits.Length; i++)
        {
            if (heap.Count < count)
            {
                heap.Enqueue(i, logits[i]);
            }
            else if (heap.TryPeek(out _, out var smallest) && logits[i] > smallest)
            {
                heap.EnqueueDequeue(i, logits[i]);
            }
        }

        var logSum = LogSumExp(logits);
        var result = new (int, float)[heap.Count];
        for (var i = result.Length - 1; i >= 0; i--)
        {
            var token = heap.Dequeue();
            result[i] = (token, (float)(logits[token] - logSum));
        }

        return result;
    }

    private static double LogSumExp(ReadOnlySpan<float> logits)
    {
        var max = float.NegativeInfinity;
        foreach (var l in logits)
        {
            max = MathF.Max(max, l);
        }

        double sum = 0;
        foreach (var l in logits)
        {
            sum += Math.Exp(l - max);
        }

        return max + Math.Log(sum);
    }
}
