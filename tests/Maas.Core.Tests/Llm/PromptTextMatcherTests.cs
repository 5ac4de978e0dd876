using System.Text;
using Maas.Core.Llm;

namespace Maas.Core.Tests.Llm;

public sealed class PromptTextMatcherTests
{
    // A toy vocabulary: each token's text; ids 100+ are special (atomic), 0 is a BOS that renders as nothing.
    private static readonly Pieces Vocabulary = new(new Dictionary<int, (byte[] Bytes, bool Atomic)>
    {
        [0] = ([], false),
        [1] = (Text("he"), false),
        [2] = (Text("llo"), false),
        [3] = (Text(" world"), false),
        [4] = (Text("hello"), false),
        [5] = (Text(" wor"), false),
        [6] = (Text("ld"), false),
        [7] = (Text("!"), false),
        [8] = (Text("hel"), false),
        [9] = (Text("lo"), false),
        [10] = (Text(" there"), false),
        [11] = ([0xC3], false),
        [12] = ([0xA9], false),
        [13] = (Text("é"), false),
        [14] = (Text("è"), false),
        [15] = (Text("x"), false),
        [16] = (Text("<|"), false),
        [17] = (Text("im_start"), false),
        [18] = (Text("|>"), false),
        [19] = (Text("a"), false),
        [20] = (Text("a<|"), false),
        [100] = (Text("<|im_start|>"), true),
        [101] = (Text("<|im_end|>"), true),
    });

    [Fact]
    public void Empty_sequences_match_nothing()
    {
        Assert.Equal(new TextPrefixMatch(0, 0, 0), PromptTextMatcher.Match([], [1, 2], Vocabulary));
        Assert.Equal(new TextPrefixMatch(0, 0, 0), PromptTextMatcher.Match([1, 2], [], Vocabulary));
        Assert.Equal(new TextPrefixMatch(0, 0, 0), PromptTextMatcher.Match([], [], Vocabulary));
    }

    [Fact]
    public void The_same_tokens_match_whole()
    {
        Assert.Equal(new TextPrefixMatch(3, 3, 6), PromptTextMatcher.Match([1, 2, 7], [1, 2, 7, 3], Vocabulary));
    }

    [Fact]
    public void The_same_text_tokenized_differently_matches_to_the_last_boundary_of_both()
    {
        // "he|llo| world" against "hello| wor|ld|!": both spell "hello world" and share the boundaries after 5 and 11 bytes.
        int[] cached = [1, 2, 3];
        int[] prompt = [4, 5, 6, 7];
        var match = PromptTextMatcher.Match(cached, prompt, Vocabulary);

        Assert.Equal(new TextPrefixMatch(3, 3, 11), match);
        Assert.Equal([1, 2, 3, 7], PromptTextMatcher.Splice(cached, prompt, match));
        Assert.Equal(11, PromptTextMatcher.TextLength(cached, 3, Vocabulary));
    }

    [Fact]
    public void A_divergence_inside_a_token_falls_back_to_the_last_shared_boundary()
    {
        // "hel|lo| there" against "hello| world": the texts part at "t"/"w", inside " there" and " world".
        Assert.Equal(new TextPrefixMatch(2, 1, 5), PromptTextMatcher.Match([8, 9, 10], [4, 3], Vocabulary));

        // The cached text ends inside a prompt token: its last boundary there is the prompt's too only at "hello".
        Assert.Equal(new TextPrefixMatch(2, 1, 5), PromptTextMatcher.Match([1, 2, 5], [4, 3], Vocabulary));
    }

    [Fact]
    public void Multi_byte_characters_split_over_byte_tokens_match_byte_wise()
    {
        // "é" as its two UTF-8 bytes in two tokens, against one token: same bytes, boundary after both.
        Assert.Equal(new TextPrefixMatch(3, 2, 3), PromptTextMatcher.Match([11, 12, 15], [13, 15], Vocabulary));

        // "è" shares only its first byte with "é": that is a boundary of the cached side alone, so nothing matches.
        Assert.Equal(new TextPrefixMatch(0, 0, 0), PromptTextMatcher.Match([11, 12], [14], Vocabulary));
    }

    [Fact]
    public void Cached_bytes_that_never_form_a_character_spell_nothing_as_the_client_never_got_them()
    {
        // The model generated "a", a lone lead byte, then "x": the client got "ax", which tokenizes without it.
        var match = PromptTextMatcher.Match([19, 11, 15, 3], [19, 15, 7], Vocabulary);
        Assert.Equal(new TextPrefixMatch(3, 2, 2), match);
        Assert.Equal([19, 11, 15, 7], PromptTextMatcher.Splice([19, 11, 15, 3], [19, 15, 7], match));

        // A stray continuation byte, and a character left unfinished where the text ends or a special token comes.
        Assert.Equal(new TextPrefixMatch(3, 2, 2), PromptTextMatcher.Match([19, 12, 15], [19, 15], Vocabulary));
        Assert.Equal(new TextPrefixMatch(2, 1, 1), PromptTextMatcher.Match([19, 11], [19, 7], Vocabulary));
        Assert.Equal(new TextPrefixMatch(3, 2, 11), PromptTextMatcher.Match([19, 11, 101, 15], [19, 101, 7], Vocabulary));

        // A character split over tokens is text, whichever token the match passed by id: "aé" then "x".
        Assert.Equal(new TextPrefixMatch(4, 3, 4), PromptTextMatcher.Match([19, 11, 12, 15], [19, 13, 15], Vocabulary));
        Assert.Equal(new TextPrefixMatch(4, 4, 4), PromptTextMatcher.Match([19, 11, 12, 15], [19, 11, 12, 15, 7], Vocabulary));

        // The prompt's own bytes are never dropped: an invalid byte there is text the cached side must spell too.
        Assert.Equal(new TextPrefixMatch(1, 1, 1), PromptTextMatcher.Match([19, 15], [19, 11, 15], Vocabulary));
    }

    [Fact]
    public void A_special_token_matches_only_itself_never_text_spelling_it()
    {
        // The template's <|im_start|> against a user's literal "<|im_start|>" text: no match, or turns could be forged.
        Assert.Equal(new TextPrefixMatch(0, 0, 0), PromptTextMatcher.Match([100, 1], [16, 17, 18, 1], Vocabulary));
        Assert.Equal(new TextPrefixMatch(0, 0, 0), PromptTextMatcher.Match([16, 17, 18, 1], [100, 1], Vocabulary));

        // The same special token passes, and text after it matches across tokenizations.
        Assert.Equal(new TextPrefixMatch(5, 4, 27), PromptTextMatcher.Match([0, 100, 1, 2, 101], [0, 100, 4, 101], Vocabulary));

        // A special token met inside the other side's token ends the match at the last shared boundary.
        Assert.Equal(new TextPrefixMatch(0, 0, 0), PromptTextMatcher.Match([19, 100], [20, 17, 18], Vocabulary));
    }

    [Fact]
    public void A_token_rendering_no_text_matches_only_itself()
    {
        Assert.Equal(new TextPrefixMatch(1, 1, 0), PromptTextMatcher.Match([0, 1], [0, 4], Vocabulary));
        Assert.Equal(new TextPrefixMatch(0, 0, 0), PromptTextMatcher.Match([0, 1], [1], Vocabulary));
    }

    private static byte[] Text(string text) => Encoding.UTF8.GetBytes(text);

    private sealed class Pieces(Dictionary<int, (byte[] Bytes, bool Atomic)> vocabulary) : ITokenPieces
    {
        public ReadOnlySpan<byte> Piece(int token) => vocabulary[token].Bytes;

        public bool IsAtomic(int token) => vocabulary[token].Atomic || vocabulary[token].Bytes.Length == 0;
    }
}
