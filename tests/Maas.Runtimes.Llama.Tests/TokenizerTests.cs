using System.Text;
using Maas.Core.Formats.Gguf;
using Maas.Testing;

namespace Maas.Runtimes.Llama.Tests;

[Collection(LlamaCollection.Name)]
public sealed class TokenizerTests(LlamaTestModels models)
{
    public static TheoryData<string> Texts => new()
    {
        "Hello world",
        "The quick brown fox jumps over the lazy dog.",
        "Crème brûlée, naïve café, Ærøskøbing",
        "Emoji: 🎉🚀 and 👩‍👩‍👧 family",
        "中文测试，日本語のテキスト、한국어",
        "tabs\tand\nnewlines\r\n  double  spaces",
        "x",
        " leading and trailing spaces ",
        "",
    };

    [SharedModelTheory(LlamaTestModels.TinyLlama)]
    [MemberData(nameof(Texts))]
    public void SentencePiece_round_trips_text_losslessly(string text)
    {
        var tokenizer = models.Tiny.Tokenizer;

        var tokens = tokenizer.Tokenize(text, addSpecial: true);

        Assert.Equal(SpmTokens.Bos, tokens[0]);
        Assert.Equal(text, tokenizer.Detokenize(tokens, removeSpecial: true));
        Assert.Equal(text, tokenizer.Detokenize(tokenizer.Tokenize(text, addSpecial: false), removeSpecial: true));
    }

    [Theory]
    [MemberData(nameof(Texts))]
    public void Byte_level_bpe_round_trips_text_losslessly(string text)
    {
        var tokenizer = models.Generated.Tokenizer;

        var tokens = tokenizer.Tokenize(text, addSpecial: false);

        Assert.Equal(text, tokenizer.Detokenize(tokens));
        Assert.Equal(text, Decode(tokenizer, tokens)); // the pieces' bytes concatenate to the text
    }

    [Theory]
    [MemberData(nameof(Texts))]
    public void Streaming_detokenizer_never_splits_a_character(string text)
    {
        var tokenizer = models.Generated.Tokenizer;
        var tokens = tokenizer.Tokenize(text, addSpecial: false);
        var stream = tokenizer.CreateStreamingDetokenizer();

        var pieces = tokens.Select(stream.Append).ToList();
        pieces.Add(stream.Flush());

        Assert.Equal(text, string.Concat(pieces));
        Assert.DoesNotContain(pieces, p => p.Contains('\uFFFD'));
        Assert.False(stream.HasPendingBytes);
    }

    [Fact]
    public void Text_of_more_tokens_than_the_first_try_holds_is_tokenized_whole()
    {
        // In this vocabulary an emoji is four byte-level tokens: one token per byte, twice what the first try's pooled
        // buffer is sized for, so the tokenizer has to ask again with the count llama_tokenize gave.
        var tokenizer = models.Generated.Tokenizer;
        var text = string.Concat(Enumerable.Repeat("🎉", 1000));
        var bytes = Encoding.UTF8.GetByteCount(text);
        Assert.True(bytes > LlamaTokenizer.FirstTryTokens(bytes));

        var tokens = tokenizer.Tokenize(text, addSpecial: false);

        Assert.Equal(bytes, tokens.Length);
        Assert.Equal(text, tokenizer.Detokenize(tokens));

        // A text that fits the first try is the same whether it comes alone or after a long one reused the pool.
        Assert.Equal(tokenizer.Tokenize("🎉", addSpecial: false), tokens[..4]);
    }

    [Fact]
    public void Streaming_detokenizer_holds_back_an_incomplete_character()
    {
        var tokenizer = models.Generated.Tokenizer;
        var bytes = Encoding.UTF8.GetBytes("🎉"); // four bytes, four byte-level tokens in this vocabulary
        var tokens = tokenizer.Tokenize("🎉", addSpecial: false);
        Assert.Equal(bytes.Length, tokens.Length);
        var stream = tokenizer.CreateStreamingDetokenizer();

        Assert.Equal(string.Empty, stream.Append(tokens[0]));
        Assert.Equal(string.Empty, stream.Append(tokens[1]));
        Assert.True(stream.HasPendingBytes);
        Assert.Equal(string.Empty, stream.Append(tokens[2]));
        Assert.Equal("🎉", stream.Append(tokens[3]));

        Assert.Equal(string.Empty, stream.Append(tokens[0]));
        Assert.Equal(string.Empty, stream.Flush()); // a stream that ends mid-character drops the bytes, never U+FFFD
        Assert.False(stream.HasPendingBytes);
    }

    [Fact]
    public void Special_tokens_are_parsed_only_when_asked()
    {
        var tokenizer = models.Generated.Tokenizer;

        var parsed = tokenizer.Tokenize("<|im_start|>user", addSpecial: false, parseSpecial: true);
        var plain = tokenizer.Tokenize("<|im_start|>user", addSpecial: false, parseSpecial: false);

        Assert.Equal(SyntheticBpeVocabulary.ImStartId, parsed[0]);
        Assert.DoesNotContain(SyntheticBpeVocabulary.ImStartId, plain);
        Assert.True(tokenizer.IsControl(SyntheticBpeVocabulary.ImStartId));
        Assert.Equal("user", tokenizer.Detokenize(parsed));
        Assert.Equal("<|im_start|>user", tokenizer.Detokenize(parsed, unparseSpecial: true));
        Assert.Equal("<|im_start|>", tokenizer.GetText(SyntheticBpeVocabulary.ImStartId));
        Assert.Equal(LlamaTokenAttributes.Control, tokenizer.GetAttributes(SyntheticBpeVocabulary.ImStartId) & LlamaTokenAttributes.Control);
    }

    [Fact]
    public void Merges_make_longer_tokens_than_bytes()
    {
        var tokenizer = models.Generated.Tokenizer;

        var tokens = tokenizer.Tokenize(" the rain in spain", addSpecial: false);

        Assert.True(tokens.Length < " the rain in spain".Length, $"{tokens.Length} tokens");
    }

    [Fact]
    public void Token_ids_outside_the_vocabulary_are_refused()
    {
        var tokenizer = models.Generated.Tokenizer;

        Assert.Throws<ArgumentOutOfRangeException>(() => tokenizer.Detokenize([1, 99999]));
        Assert.Throws<ArgumentOutOfRangeException>(() => tokenizer.GetText(-1));
        Assert.Throws<ArgumentOutOfRangeException>(() => tokenizer.GetPieceBytes(tokenizer.Count));
        Assert.False(tokenizer.IsEndOfGeneration(-5));
    }

    [Fact]
    public void Long_text_tokenizes_past_the_first_guess()
    {
        var tokenizer = models.Generated.Tokenizer;
        var text = string.Concat(Enumerable.Repeat("zq 🎉 ", 2000));

        var tokens = tokenizer.Tokenize(text, addSpecial: false);

        Assert.Equal(text, tokenizer.Detokenize(tokens));
    }

    private static string Decode(LlamaTokenizer tokenizer, int[] tokens) =>
        Encoding.UTF8.GetString(tokens.SelectMany(t => tokenizer.GetPieceBytes(t)).ToArray());
}
