using Maas.Core.Llm;

namespace Maas.Runtimes.Llama.Serving;

/// <summary>Builds a request's sampler chain (bias, penalties, grammar, truncation, temperature) and knows the end tokens.</summary>
internal sealed class LlamaSamplerFactory
{
    private readonly LlamaModel _model;
    private readonly int[] _endTokens;
    private readonly HashSet<int> _endTokenSet;

    public LlamaSamplerFactory(LlamaModel model)
    {
        _model = model;
        _endTokens = Enumerable.Range(0, model.VocabularySize).Where(model.Tokenizer.IsEndOfGeneration).ToArray();
        _endTokenSet = [.. _endTokens];
    }

    /// <summary>Whether the token ends a generation (EOS, EOT and the like).</summary>
    public bool IsEnd(int token) => _endTokenSet.Contains(token);

    /// <summary>The sampler for a request: its chain and, apart from it, its grammar.</summary>
    /// <exception cref="LlmException">llama.cpp refused the settings (a grammar it cannot parse, say).</exception>
    public LlamaSequenceSampler Build(GenerationRequest request)
    {
        var s = request.Sampling;
        var chain = new LlamaSamplerChain();
        try
        {
            var bias = new Dictionary<int, float>();
            foreach (var (token, value) in s.LogitBias)
            {
                bias[token] = value <= -100 ? float.NegativeInfinity : value; // OpenAI: -100 bans the token
            }

            if (s.IgnoreEos)
            {
                foreach (var token in _endTokens)
                {
                    bias[token] = float.NegativeInfinity;
                }
            }

            if (bias.Count > 0)
            {
                chain.AddLogitBias(_model, bias);
            }

            if (s.RepeatPenalty != 1f || s.FrequencyPenalty != 0f || s.PresencePenalty != 0f)
            {
                chain.AddPenalties(_model.VocabularySize, s.PenaltyLastN, s.RepeatPenalty, s.FrequencyPenalty, s.PresencePenalty);
            }

            if (s.IsGreedy)
            {
                chain.AddGreedy();
            }
            else
            {
                if (s.TopK > 0)
                {
                    chain.AddTopK(s.TopK);
                }

                if (s.TopP < 1f)
                {
                    chain.AddTopP(s.TopP);
                }

                if (s.MinP > 0f)
                {
                    chain.AddMinP(s.MinP);
                }

                chain.AddTemperature(s.Temperature);
                chain.AddDistribution(s.Seed ?? (uint)Random.Shared.Next());
            }

            // The grammar stays out of the chain and runs before it (so truncation chooses among tokens it allows):
            // a step where it allows nothing is then seen before llama.cpp could throw (see LlamaSequenceSampler).
            return LlamaSequenceSampler.Create(_model, chain, request.Grammar, _endTokens);
        }
        catch (Exception ex) when (ex is LlamaException or ArgumentException)
        {
            chain.Dispose();
            throw LlmException.Invalid(
                $"the sampling settings were refused by llama.cpp: {ex.Message}{(ex is LlamaException { NativeLog.Length: > 0 } l ? " (" + l.NativeLog.Trim() + ")" : "")}",
                request.Grammar is null ? null : "response_format");
        }
    }
}
