using Maas.Testing;

namespace Maas.Runtimes.Llama.Tests;

[Collection(LlamaCollection.Name)]
public sealed class SamplingTests(LlamaTestModels models)
{
    [Fact]
    public void A_seeded_chain_is_reproducible()
    {
        var model = models.Generated;
        var prompt = model.Tokenizer.Tokenize("Random but repeatable");

        List<int> Run(uint seed)
        {
            using var context = model.CreateContext(LlamaTestModels.SmallContext());
            using var chain = new LlamaSamplerChain()
                .AddPenalties(model.VocabularySize, lastN: 32, repeat: 1.1f, frequency: 0.1f, presence: 0.1f)
                .AddTopK(200)
                .AddTopP(0.95f)
                .AddMinP(0.01f)
                .AddTemperature(1.5f)
                .AddDistribution(seed);
            return Generation.Generate(context, chain, prompt, 16);
        }

        var first = Run(1234);
        Assert.Equal(first, Run(1234));
        Assert.NotEqual(first, Run(4321));
    }

    [Fact]
    public void Chain_reports_its_samplers_and_seed()
    {
        using var chain = new LlamaSamplerChain().AddTopK(40).AddTemperature(0.8f).AddDistribution(7);

        Assert.Equal(3, chain.Count);
        Assert.Equal(["top-k", "temp", "dist"], chain.Names);
        Assert.Equal(7u, chain.Seed);
        using var clone = chain.Clone();
        Assert.Equal(3, clone.Count);
    }

    [Fact]
    public void A_grammar_allows_only_its_language()
    {
        var model = models.Generated;
        for (uint seed = 1; seed <= 3; seed++)
        {
            using var context = model.CreateContext(LlamaTestModels.SmallContext());
            using var chain = new LlamaSamplerChain()
                .AddGrammar(model, "root ::= \"yes\" | \"no\"")
                .AddTemperature(1f)
                .AddDistribution(seed);

            var output = Generation.Generate(context, chain, model.Tokenizer.Tokenize("Answer:"), 10, stopAtEndOfGeneration: true);

            Assert.True(model.Tokenizer.IsEndOfGeneration(output[^1]), "the grammar ends in end-of-generation");
            Assert.Contains(model.Tokenizer.Detokenize(output.ToArray()), new[] { "yes", "no" });
        }
    }

    [Fact]
    public void A_broken_grammar_is_reported()
    {
        using var chain = new LlamaSamplerChain();

        var error = Assert.Throws<LlamaException>(() => chain.AddGrammar(models.Generated, "root ::= (unclosed"));
        Assert.Contains("grammar", error.Message);
    }

    [Fact]
    public void Logit_bias_forces_a_token()
    {
        var model = models.Generated;
        using var context = model.CreateContext(LlamaTestModels.SmallContext());
        using var chain = new LlamaSamplerChain().AddLogitBias(model, [new(777, 1000f)]).AddGreedy();

        var output = Generation.Generate(context, chain, model.Tokenizer.Tokenize("anything"), 3);

        Assert.All(output, t => Assert.Equal(777, t));
        Assert.Throws<ArgumentOutOfRangeException>(() => new LlamaSamplerChain().AddLogitBias(model, [new(-3, 1f)]));
    }

    [SharedModelFact(LlamaTestModels.TinyLlama)]
    public void Candidates_expose_the_probabilities_the_chain_sampled_from()
    {
        var model = models.Tiny;
        using var context = model.CreateContext(LlamaTestModels.SmallContext());
        using var batch = new LlamaBatch(16);
        batch.AddRange(model.Tokenizer.Tokenize("The weather today is"), 0, 0);
        context.Decode(batch);
        var logits = context.GetLogits();

        var candidates = new LlamaTokenCandidates(model.VocabularySize).Load(logits);
        using var chain = new LlamaSamplerChain().AddTopK(5).AddDistribution(42);
        chain.Apply(candidates);

        Assert.Equal(5, candidates.Items.Length);
        Assert.InRange(candidates.Items.ToArray().Sum(c => c.P), 0.999f, 1.001f);
        Assert.NotNull(candidates.SelectedToken);
        Assert.Contains(candidates.SelectedToken!.Value, candidates.Items.ToArray().Select(c => c.Id));

        // The top-5 by log-probability are the same tokens, and the greedy pick is the first of them.
        var top = LlamaLogits.Top(logits, 5);
        Assert.Equal(top.Select(t => t.Token).Order(), candidates.Items.ToArray().Select(c => c.Id).Order());
        using var greedy = Generation.Greedy();
        Assert.Equal(top[0].Token, greedy.Sample(context));
        Assert.True(top[0].LogProbability <= 0);
        Assert.Equal(top[0].LogProbability, LlamaLogits.LogProbability(logits, top[0].Token), 4);

        var all = new LlamaTokenCandidates(model.VocabularySize).Load(logits);
        all.ComputeProbabilities();
        Assert.InRange(all.Items.ToArray().Sum(c => c.P), 0.999f, 1.001f);
    }

    [Fact]
    public void Invalid_sampler_settings_are_refused()
    {
        using var chain = new LlamaSamplerChain();

        Assert.Throws<ArgumentOutOfRangeException>(() => chain.AddTopP(1.5f));
        Assert.Throws<ArgumentOutOfRangeException>(() => chain.AddTemperature(float.NaN));
        Assert.Throws<ArgumentOutOfRangeException>(() => chain.AddPenalties(100, repeat: 0));
    }
}
