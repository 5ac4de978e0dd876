using System.Text.Json;
using Maas.Testing;

namespace Maas.Server.Tests.OpenAi;

/// <summary>
/// Sampling parameters reach the sampler: OpenAI's presence and frequency penalties and llama.cpp's repeat_penalty
/// each make greedy decoding repeat fewer tokens; top_p, top_k and min_p at their tightest make random sampling
/// greedy; max_completion_tokens caps a chat.
/// </summary>
[Collection(LlmServerCollection.Name)]
public sealed class SamplingParameterTests(LlmServerFixture fixture)
{
    private const string Tiny = LlmServerFixture.TinyFile;

    // Greedy tokens of one completion (the random model repeats itself a lot without a penalty).
    private async Task<List<string>> TokensAsync(string parameters, string temperature = "0")
    {
        var body = await fixture.PostOkAsync("/v1/completions",
            $$"""{"model":"tiny","prompt":"Once upon a time","max_tokens":32,"temperature":{{temperature}},"ignore_eos":true,"logprobs":1{{parameters}}}""");
        return [.. body.GetProperty("choices")[0].GetProperty("logprobs").GetProperty("tokens").EnumerateArray().Select(t => t.GetString()!)];
    }

    private static int Repeats(List<string> tokens) => tokens.Count - tokens.Distinct(StringComparer.Ordinal).Count();

    [SharedModelFact(Tiny)]
    public async Task Each_penalty_makes_greedy_decoding_repeat_fewer_tokens()
    {
        var plain = await TokensAsync("");
        Assert.Equal(plain, await TokensAsync("")); // greedy: the baseline is stable
        Assert.True(Repeats(plain) >= 4, $"the baseline repeats too little to compare: {string.Join('|', plain)}");

        var repeat = await TokensAsync(""","repeat_penalty":10,"repeat_last_n":64""");
        Assert.Equal(0, Repeats(repeat));

        foreach (var penalty in new[] { ""","presence_penalty":2""", ""","frequency_penalty":2""" })
        {
            var penalised = await TokensAsync(penalty);
            Assert.True(Repeats(penalised) < Repeats(plain), $"{penalty}: {Repeats(penalised)} repeats vs {Repeats(plain)}: {string.Join('|', penalised)}");
        }
    }

    [SharedModelFact(Tiny)]
    public async Task The_tightest_top_p_top_k_or_min_p_makes_random_sampling_greedy()
    {
        var greedy = await TokensAsync("");
        var random = await TokensAsync(""","seed":1""", temperature: "1.5");
        Assert.NotEqual(greedy, random); // without a truncation, sampling at this temperature wanders off

        foreach (var truncation in new[] { ""","top_k":1""", ""","top_p":0.000001""", ""","min_p":1""" })
        {
            Assert.Equal(greedy, await TokensAsync(truncation + ""","seed":1""", temperature: "1.5"));
        }
    }

    [SharedModelFact(Tiny)]
    public async Task Max_completion_tokens_caps_a_chat_completion()
    {
        var body = await fixture.PostOkAsync("/v1/chat/completions",
            """{"model":"tiny","messages":[{"role":"user","content":"Tell me a story"}],"max_completion_tokens":3,"ignore_eos":true}""");
        Assert.Equal(3, body.GetProperty("usage").GetProperty("completion_tokens").GetInt32());
        Assert.Equal("length", body.GetProperty("choices")[0].GetProperty("finish_reason").GetString());
        Assert.Equal(JsonValueKind.String, body.GetProperty("choices")[0].GetProperty("message").GetProperty("content").ValueKind);
    }
}
