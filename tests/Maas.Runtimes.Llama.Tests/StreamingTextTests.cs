using Maas.Core.Llm;
using Maas.Runtimes.Llama.Serving;
using Maas.Testing;

namespace Maas.Runtimes.Llama.Tests;

/// <summary>
/// Streamed text never carries U+FFFD for a character split across tokens. The shared tiny Llama-2 has the real
/// SentencePiece vocabulary, whose byte-fallback tokens (&lt;0xF0&gt;&lt;0x9F&gt;&lt;0x8E&gt;&lt;0x89&gt; for 🎉) split
/// characters that have no token of their own.
/// </summary>
[Collection(LlamaCollection.Name)]
public sealed class StreamingTextTests(LlamaTestModels models)
{
    private const string Party = "🎉"; // four byte-fallback tokens in the Llama-2 vocabulary

    [SharedModelTheory(LlamaTestModels.TinyLlama)]
    [InlineData("Party 🎉 time")]
    [InlineData("🎉🚀👩‍👩‍👧 and 한국어")]
    [InlineData("mixed € 日本 🎉 naïve")]
    public void Byte_fallback_pieces_are_held_until_the_character_completes(string text)
    {
        var tokenizer = models.Tiny.Tokenizer;
        var tokens = tokenizer.Tokenize(text, addSpecial: false);
        Assert.Contains(tokens, t => tokenizer.GetAttributes(t).HasFlag(LlamaTokenAttributes.Byte)); // the case under test
        var stream = tokenizer.CreateStreamingDetokenizer();

        var pieces = tokens.Select(stream.Append).ToList();

        Assert.DoesNotContain(pieces, p => p.Contains('\uFFFD'));
        Assert.Contains(pieces, p => p.Length == 0); // some byte tokens were held back
        Assert.False(stream.HasPendingBytes);
        Assert.Equal(Pieces(tokenizer, tokens), string.Concat(pieces)); // all of it, SentencePiece's leading space included
    }

    [SharedModelFact(LlamaTestModels.TinyLlama)]
    public void Bytes_that_never_complete_a_character_are_dropped_not_replaced()
    {
        var tokenizer = models.Tiny.Tokenizer;
        var party = tokenizer.Tokenize(Party, addSpecial: false).Where(t => tokenizer.GetAttributes(t).HasFlag(LlamaTokenAttributes.Byte)).ToArray();
        Assert.Equal(4, party.Length);
        var word = tokenizer.Tokenize("ok", addSpecial: false);
        var stream = tokenizer.CreateStreamingDetokenizer();

        // A lead byte and a continuation, then a token that is not a continuation: the two bytes can never be text.
        Assert.Equal("", stream.Append(party[0]));
        Assert.Equal("", stream.Append(party[1]));
        var text = string.Concat(word.Select(stream.Append));
        Assert.Equal(Pieces(tokenizer, word), text);

        // A stray continuation byte alone, then the complete character.
        Assert.Equal("", stream.Append(party[2]));
        Assert.Equal(Party, string.Concat(party.Select(stream.Append)));

        // The stream ends in the middle of a character.
        Assert.Equal("", stream.Append(party[0]));
        Assert.Equal("", stream.Flush());
    }

    private static string Pieces(LlamaTokenizer tokenizer, int[] tokens) =>
        System.Text.Encoding.UTF8.GetString(tokens.SelectMany(t => tokenizer.GetPieceBytes(t)).ToArray());

    [SharedModelFact(LlamaTestModels.TinyLlama)]
    public async Task A_streamed_generation_cut_mid_character_sends_whole_characters_only()
    {
        await using var engine = LlamaEngine.Load(new LlmModelSpec
        {
            Name = "tiny",
            Version = 1,
            Path = SharedModels.PathOf(LlamaTestModels.TinyLlama),
            Slots = 1,
            ContextPerSlot = 256,
            BatchSize = 64,
            Threads = 2,
        });

        // The grammar allows only "🎉🎉🎉", which this vocabulary spells with byte tokens, four per character;
        // max_tokens 6 stops after one whole character and two bytes of the next.
        var events = new List<GenerationEvent>();
        await foreach (var e in engine.GenerateAsync(
            new GenerationRequest
            {
                PromptTokens = engine.Tokenize("Celebrate:", addSpecial: true, parseSpecial: false),
                MaxTokens = 6,
                Grammar = $"root ::= \"{Party}{Party}{Party}\"",
                Sampling = new SamplingOptions { Temperature = 0 },
            },
            CancellationToken.None))
        {
            events.Add(e);
        }

        Assert.All(events, e => Assert.DoesNotContain('\uFFFD', e.Text));
        Assert.Equal(Party, string.Concat(events.Select(e => e.Text)));
        Assert.Equal(FinishReason.Length, events[^1].Finish);
        Assert.Equal(6, events[^1].Usage!.CompletionTokens);
    }
}
