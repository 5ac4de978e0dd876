using Maas.Runtimes.Llama.Native;

namespace Maas.Runtimes.Llama;

/// <summary>The candidate tokens of one sampling step (id, logit, probability), for applying a chain and reading what it kept.</summary>
public sealed class LlamaTokenCandidates
{
    private LlamaTokenData[] data;
    private int size;

    /// <summary>Creates room for a vocabulary of <paramref name="vocabularySize"/> tokens (reuse it across steps).</summary>
    public LlamaTokenCandidates(int vocabularySize)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(vocabularySize, 1);
        data = new LlamaTokenData[vocabularySize];
    }

    /// <summary>The candidates after the last <see cref="LlamaSamplerChain.Apply"/> (or all of them after <see cref="Load"/>).</summary>
    public ReadOnlySpan<LlamaTokenData> Items => data.AsSpan(0, size);

    /// <summary>Index in <see cref="Items"/> of the token the chain picked, or -1 when its last sampler does not pick.</summary>
    public int SelectedIndex { get; private set; } = -1;

    /// <summary>The picked token id, or null.</summary>
    public int? SelectedToken => SelectedIndex >= 0 && SelectedIndex < size ? data[SelectedIndex].Id : null;

    /// <summary>Whether <see cref="Items"/> is sorted by descending logit.</summary>
    public bool Sorted { get; private set; }

    internal Span<LlamaTokenData> Buffer => data.AsSpan(0, size);

    /// <summary>Fills the candidates from a logits row (probabilities are computed by the samplers, or call <see cref="ComputeProbabilities"/>).</summary>
    public LlamaTokenCandidates Load(ReadOnlySpan<float> logits)
    {
        if (logits.Length > data.Length)
        {
            data = new LlamaTokenData[logits.Length];
        }

        for (var i = 0; i < logits.Length; i++)
        {
            data[i] = new LlamaTokenData { Id = i, Logit = logits[i], P = 0 };
        }

        size = logits.Length;
        SelectedIndex = -1;
        Sorted = false;
        return this;
    }

    /// <summary>Softmax over the current candidates' logits into <see cref="LlamaTokenData.P"/>.</summary>
    public void ComputeProbabilities()
    {
        var span = Buffer;
        var max = float.NegativeInfinity;
        foreach (var c in span)
        {
            max = MathF.Max(max, c.Logit);
        }

        double sum = 0;
        for (var i = 0; i < span.Length; i++)
        {
            var e = float.IsNegativeInfinity(span[i].Logit) ? 0 : Math.Exp(span[i].Logit - max);
            span[i].P = (float)e;
            sum += e;
        }

        for (var i = 0; i < span.Length; i++)
        {
            span[i].P = (float)(span[i].P / sum);
        }
    }

    internal void SetResult(int newSize, int selected, bool sorted)
    {
        size = newSize;
        SelectedIndex = selected;
        Sorted = sorted;
    }
}
