using Maas.Runtimes.Llama.Native;

namespace Maas.Runtimes.Llama;

/// <summary>
/// The sampler of one generating sequence: a chain and, when the output is constrained, a grammar kept apart from the
/// chain and applied before it, so that a step where the grammar has nothing left to allow is seen here.
/// </summary>
/// <remarks>
/// Inside a chain, a grammar with nothing allowed (finished while the end of generation is banned, or everything it
/// allows banned by a logit bias) leaves the final sampler to pick a token the grammar rejects; accepting it makes
/// llama.cpp throw a C++ exception across the C boundary, which ends the process. Here a step that would do so ends
/// with an outcome instead, and a token reaches the grammar's accept only when the grammar allowed it.
/// </remarks>
public sealed class LlamaSequenceSampler : IDisposable
{
    private readonly LlamaSamplerChain _chain;
    private readonly SafeLlamaSamplerHandle? _grammar;
    private readonly int[] _endTokens;
    private readonly int _vocabularySize;
    private LlamaTokenCandidates? _candidates;

    private LlamaSequenceSampler(LlamaSamplerChain chain, SafeLlamaSamplerHandle? grammar, int[] endTokens, int vocabularySize)
    {
        _chain = chain;
        _grammar = grammar;
        _endTokens = endTokens;
        _vocabularySize = vocabularySize;
        _candidates = grammar is null ? null : new LlamaTokenCandidates(vocabularySize);
    }

    /// <summary>True when a grammar constrains the output.</summary>
    public bool HasGrammar => _grammar is not null;

    /// <summary>
    /// Takes over <paramref name="chain"/> (which must not hold a grammar itself) and, when <paramref name="grammar"/>
    /// is given, compiles it (start rule <c>root</c>) for <paramref name="model"/>'s vocabulary.
    /// </summary>
    /// <exception cref="LlamaException">The grammar does not parse (the chain is then not taken over).</exception>
    public static LlamaSequenceSampler Create(LlamaModel model, LlamaSamplerChain chain, string? grammar, IReadOnlyCollection<int> endTokens)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(chain);
        ArgumentNullException.ThrowIfNull(endTokens);
        if (grammar is null)
        {
            return new LlamaSequenceSampler(chain, null, [], model.VocabularySize);
        }

        ArgumentException.ThrowIfNullOrEmpty(grammar);
        LlamaLogging.BeginCapture();
        var raw = model.Handle.InitGrammar(grammar, "root");
        if (raw == IntPtr.Zero)
        {
            throw new LlamaException("llama_sampler_init_grammar rejected the grammar (root 'root')", LlamaLogging.TakeErrors());
        }

        var handle = SafeLlamaSamplerHandle.Wrap(raw, "llama_sampler_init_grammar");
        return new LlamaSequenceSampler(chain, handle, [.. endTokens], model.VocabularySize);
    }

    /// <summary>Samples from batch entry <paramref name="batchIndex"/>'s logits of the last decode and, when a token is picked, accepts it.</summary>
    public LlamaSampleOutcome Sample(LlamaContext context, int batchIndex, out int token)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (_grammar is null)
        {
            token = _chain.Sample(context, batchIndex);
            return LlamaSampleOutcome.Token;
        }

        return Sample(context.GetLogits(batchIndex), out token);
    }

    /// <summary>
    /// Samples from a row of logits kept from an earlier decode (a cached prompt's last token) and, when a token is
    /// picked, accepts it: the same chain and grammar steps as sampling a fresh decode's logits.
    /// </summary>
    public LlamaSampleOutcome Sample(ReadOnlySpan<float> logits, out int token)
    {
        if (logits.IsEmpty)
        {
            throw new ArgumentException("no logits to sample from", nameof(logits));
        }

        token = -1;
        var candidates = (_candidates ??= new LlamaTokenCandidates(_vocabularySize)).Load(logits);
        if (_grammar is null)
        {
            _chain.Apply(candidates);
            var pick = candidates.SelectedIndex;
            if (pick < 0 || pick >= candidates.Items.Length)
            {
                throw new InvalidOperationException("the sampler chain picked no token");
            }

            token = candidates.Items[pick].Id;
            _chain.Accept(token);
            return LlamaSampleOutcome.Token;
        }

        _grammar.Apply(candidates.Buffer); // marks what the grammar rejects with -infinity; keeps order and size
        var items = candidates.Items;
        var allowed = 0;
        foreach (var c in items)
        {
            allowed += c.Logit > float.NegativeInfinity ? 1 : 0;
        }

        // Load put token i at index i and the grammar does not reorder, so end tokens are found by index.
        var endAllowed = 0;
        foreach (var end in _endTokens)
        {
            endAllowed += (uint)end < (uint)items.Length && items[end].Id == end && items[end].Logit > float.NegativeInfinity ? 1 : 0;
        }

        if (allowed == endAllowed)
        {
            return endAllowed > 0 ? LlamaSampleOutcome.GrammarComplete : LlamaSampleOutcome.GrammarDeadEnd;
        }

        _chain.Apply(candidates);
        var selected = candidates.SelectedIndex;
        items = candidates.Items;
        if (selected < 0 || selected >= items.Length || !(items[selected].Logit > float.NegativeInfinity))
        {
            // Everything the grammar allows is banned: with the end allowed, the grammar may stop here.
            return endAllowed > 0 ? LlamaSampleOutcome.GrammarComplete : LlamaSampleOutcome.AllowedTokensBanned;
        }

        token = items[selected].Id;
        NativeApi.llama_sampler_accept(_grammar, token);
        _chain.Accept(token);
        return LlamaSampleOutcome.Token;
    }

    /// <inheritdoc />
    public void Dispose()
    {
        _grammar?.Dispose();
        _chain.Dispose();
    }
}
