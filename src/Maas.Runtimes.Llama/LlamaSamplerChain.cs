using Maas.Runtimes.Llama.Native;

namespace Maas.Runtimes.Llama;

/// <summary>A llama.cpp sampler chain: filters and transforms the candidates in order, and the last sampler picks the token.</summary>
/// <remarks>
/// The usual order is penalties, logit bias, grammar, top-k, top-p, min-p, temperature, then dist (seeded) or greedy.
/// A chain has state (penalty history, grammar position, RNG): use one per sequence. Not thread-safe.
/// </remarks>
public sealed class LlamaSamplerChain : IDisposable
{
    private readonly SafeLlamaSamplerHandle handle;

    /// <summary>Creates an empty chain.</summary>
    public LlamaSamplerChain(bool measurePerformance = false)
    {
        LlamaBackend.EnsureInitialized();
        handle = SafeLlamaSamplerHandle.CreateChain(noPerf: !measurePerformance);
    }

    private LlamaSamplerChain(SafeLlamaSamplerHandle handle) => this.handle = handle;

    /// <summary>Number of samplers in the chain.</summary>
    public int Count => handle.Count;

    /// <summary>llama.cpp's names of the samplers, in order (e.g. "top-k", "dist").</summary>
    public IReadOnlyList<string> Names => Enumerable.Range(0, Count).Select(i => handle.NameAt(i) ?? "?").ToList();

    /// <summary>The seed of the chain's random sampler (LLAMA_DEFAULT_SEED when none).</summary>
    public uint Seed => NativeApi.llama_sampler_get_seed(handle);

    /// <summary>Picks the most likely token.</summary>
    public LlamaSamplerChain AddGreedy() => Add(NativeApi.llama_sampler_init_greedy(), "greedy");

    /// <summary>Draws from the distribution with a seeded RNG (same seed, same logits: same tokens).</summary>
    public LlamaSamplerChain AddDistribution(uint seed) => Add(NativeApi.llama_sampler_init_dist(seed), $"dist(seed {seed})");

    /// <summary>Keeps the <paramref name="k"/> most likely tokens (k &lt;= 0: no-op).</summary>
    public LlamaSamplerChain AddTopK(int k) => Add(NativeApi.llama_sampler_init_top_k(k), $"top-k({k})");

    /// <summary>Keeps the smallest set of tokens whose probability sums to <paramref name="p"/>.</summary>
    public LlamaSamplerChain AddTopP(float p, int minKeep = 1)
    {
        CheckProbability(p, nameof(p));
        return Add(NativeApi.llama_sampler_init_top_p(p, (nuint)Math.Max(minKeep, 1)), $"top-p({p})");
    }

    /// <summary>Drops tokens less likely than <paramref name="p"/> times the most likely one.</summary>
    public LlamaSamplerChain AddMinP(float p, int minKeep = 1)
    {
        CheckProbability(p, nameof(p));
        return Add(NativeApi.llama_sampler_init_min_p(p, (nuint)Math.Max(minKeep, 1)), $"min-p({p})");
    }

    /// <summary>Locally typical sampling.</summary>
    public LlamaSamplerChain AddTypical(float p, int minKeep = 1)
    {
        CheckProbability(p, nameof(p));
        return Add(NativeApi.llama_sampler_init_typical(p, (nuint)Math.Max(minKeep, 1)), $"typical({p})");
    }

    /// <summary>Divides logits by <paramref name="temperature"/> (&lt;= 0 keeps only the most likely token).</summary>
    public LlamaSamplerChain AddTemperature(float temperature)
    {
        CheckFinite(temperature, nameof(temperature));
        return Add(NativeApi.llama_sampler_init_temp(temperature), $"temp({temperature})");
    }

    /// <summary>Dynamic temperature in [t - delta, t + delta] by entropy.</summary>
    public LlamaSamplerChain AddDynamicTemperature(float temperature, float delta, float exponent = 1f) =>
        Add(NativeApi.llama_sampler_init_temp_ext(temperature, delta, exponent), $"temp-ext({temperature}, {delta})");

    /// <summary>Keeps tokens within <paramref name="n"/> standard deviations of the top logit.</summary>
    public LlamaSamplerChain AddTopNSigma(float n) => Add(NativeApi.llama_sampler_init_top_n_sigma(n), $"top-n-sigma({n})");

    /// <summary>Mirostat 2.0 (picks the token itself: use it last instead of dist).</summary>
    public LlamaSamplerChain AddMirostatV2(uint seed, float tau = 5f, float eta = 0.1f) =>
        Add(NativeApi.llama_sampler_init_mirostat_v2(seed, tau, eta), "mirostat-v2");

    /// <summary>Repetition, frequency and presence penalties over the last <paramref name="lastN"/> accepted tokens (OpenAI's frequency/presence penalties).</summary>
    public LlamaSamplerChain AddPenalties(int vocabularySize, int lastN = 64, float repeat = 1f, float frequency = 0f, float presence = 0f)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(lastN, -1);
        if (!(repeat > 0) || !float.IsFinite(repeat))
        {
            throw new ArgumentOutOfRangeException(nameof(repeat), repeat, "the repeat penalty must be a positive number (1 = off)");
        }

        CheckFinite(frequency, nameof(frequency));
        CheckFinite(presence, nameof(presence));
        return Add(NativeApi.llama_sampler_init_penalties(vocabularySize, lastN, repeat, frequency, presence), "penalties");
    }

    /// <summary>Adds fixed biases to the logits of some tokens (OpenAI's logit_bias; -infinity bans a token).</summary>
    public LlamaSamplerChain AddLogitBias(LlamaModel model, IEnumerable<KeyValuePair<int, float>> biases)
    {
        ArgumentNullException.ThrowIfNull(model);
        var list = new List<LlamaLogitBias>();
        foreach (var (token, bias) in biases)
        {
            model.Tokenizer.CheckToken(token);
            list.Add(new LlamaLogitBias { Token = token, Bias = bias });
        }

        return Add(NativeApi.InitLogitBias(model.VocabularySize, list.ToArray()), "logit-bias");
    }

    /// <summary>Constrains output to a GBNF grammar (e.g. compiled from a JSON schema).</summary>
    /// <remarks>
    /// Add it before any truncating sampler (top-k, top-p, ...): if truncation left only tokens the grammar forbids,
    /// llama.cpp would accept a forbidden token and abort the process.
    /// </remarks>
    /// <exception cref="LlamaException">The grammar does not parse; the message carries llama.cpp's reason.</exception>
    public LlamaSamplerChain AddGrammar(LlamaModel model, string grammar, string root = "root")
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentException.ThrowIfNullOrEmpty(grammar);
        LlamaLogging.BeginCapture();
        var sampler = model.Handle.InitGrammar(grammar, root);
        if (sampler == IntPtr.Zero)
        {
            throw new LlamaException($"llama_sampler_init_grammar rejected the grammar (root '{root}')", LlamaLogging.TakeErrors());
        }

        return Add(sampler, "grammar");
    }

    /// <summary>A grammar that only applies once the output matches a trigger pattern or token (tool calls inside free text).</summary>
    public LlamaSamplerChain AddLazyGrammar(LlamaModel model, string grammar, IReadOnlyList<string> triggerPatterns, IReadOnlyList<int>? triggerTokens = null, string root = "root")
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentException.ThrowIfNullOrEmpty(grammar);
        var tokens = (triggerTokens ?? []).ToArray();
        model.Tokenizer.CheckTokens(tokens);
        LlamaLogging.BeginCapture();
        var sampler = model.Handle.InitLazyGrammar(grammar, root, triggerPatterns, tokens);
        if (sampler == IntPtr.Zero)
        {
            throw new LlamaException($"llama_sampler_init_grammar_lazy_patterns rejected the grammar (root '{root}')", LlamaLogging.TakeErrors());
        }

        return Add(sampler, "lazy grammar");
    }

    /// <summary>Samples a token from batch entry <paramref name="batchIndex"/>'s logits of the last decode and accepts it into the chain's state.</summary>
    public int Sample(LlamaContext context, int batchIndex = -1)
    {
        ArgumentNullException.ThrowIfNull(context);
        _ = context.GetLogits(batchIndex); // a clear error for a row without logits (llama.cpp would abort)
        return NativeApi.llama_sampler_sample(handle, context.Handle, batchIndex);
    }

    /// <summary>Runs the chain over <paramref name="candidates"/> without accepting: the survivors, their probabilities and the pick stay readable (logprobs).</summary>
    public void Apply(LlamaTokenCandidates candidates)
    {
        ArgumentNullException.ThrowIfNull(candidates);
        var (size, selected, sorted) = handle.Apply(candidates.Buffer);
        candidates.SetResult(size, (int)selected, sorted);
    }

    /// <summary>Records a token as generated (penalty history, grammar state) when it was chosen outside <see cref="Sample"/>.</summary>
    /// <remarks>With a grammar in the chain, only accept tokens the grammar allows (llama.cpp aborts on others).</remarks>
    public void Accept(int token) => NativeApi.llama_sampler_accept(handle, token);

    /// <summary>Forgets the history (penalties, grammar position); the RNG restarts from its seed.</summary>
    public void Reset() => NativeApi.llama_sampler_reset(handle);

    /// <summary>An independent copy with the same samplers and state.</summary>
    public LlamaSamplerChain Clone() => new(handle.Clone());

    /// <inheritdoc />
    public void Dispose() => handle.Dispose();

    private LlamaSamplerChain Add(IntPtr sampler, string what)
    {
        if (sampler == IntPtr.Zero)
        {
            throw new LlamaException($"llama.cpp could not create the {what} sampler");
        }

        handle.Add(sampler);
        return this;
    }

    private static void CheckProbability(float p, string name)
    {
        if (!(p >= 0 && p <= 1))
        {
            throw new ArgumentOutOfRangeException(name, p, "must be between 0 and 1");
        }
    }

    private static void CheckFinite(float value, string name)
    {
        if (!float.IsFinite(value))
        {
            throw new ArgumentOutOfRangeException(name, value, "must be a finite number");
        }
    }
}
