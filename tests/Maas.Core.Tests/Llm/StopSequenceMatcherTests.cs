using Maas.Core.Llm;

namespace Maas.Core.Tests.Llm;

public sealed class StopSequenceMatcherTests
{
    private static (string Released, StopSequenceMatcher Matcher) Run(string[] stops, params string[] pieces)
    {
        var matcher = new StopSequenceMatcher(stops);
        var released = string.Concat(pieces.Select(matcher.Push));
        return (released + matcher.Flush(), matcher);
    }

    [Fact]
    public void Stop_string_split_over_pieces_is_found_and_never_released()
    {
        var matcher = new StopSequenceMatcher(["END"]);
        Assert.Equal("hello ", matcher.Push("hello E"));
        Assert.Equal(1, matcher.HeldLength);
        Assert.Equal("", matcher.Push("N"));
        Assert.Equal("", matcher.Push("D and more"));
        Assert.True(matcher.Stopped);
        Assert.Equal("END", matcher.MatchedStop);
        Assert.Equal("", matcher.Push("ignored"));
        Assert.Equal("", matcher.Flush());
    }

    [Fact]
    public void Held_text_that_turns_out_not_to_be_a_stop_is_released()
    {
        var (released, matcher) = Run(["END"], "a E", "N", "x", "b");
        Assert.Equal("a ENxb", released);
        Assert.False(matcher.Stopped);
    }

    [Fact]
    public void Held_text_is_flushed_at_the_end()
    {
        var matcher = new StopSequenceMatcher(["###"]);
        Assert.Equal("abc", matcher.Push("abc##"));
        Assert.Equal("##", matcher.Flush());
        Assert.False(matcher.Stopped);
    }

    [Fact]
    public void Earliest_of_several_stops_wins()
    {
        var (released, matcher) = Run(["world", "lo"], "hello world");
        Assert.Equal("hel", released);
        Assert.Equal("lo", matcher.MatchedStop);
    }

    [Fact]
    public void Stop_inside_one_piece_cuts_the_piece()
    {
        var (released, matcher) = Run(["\n\n"], "line one\n\nline two");
        Assert.Equal("line one", released);
        Assert.True(matcher.Stopped);
    }

    [Fact]
    public void Overlapping_prefix_holds_only_what_can_still_match()
    {
        var matcher = new StopSequenceMatcher(["aab"]);
        Assert.Equal("", matcher.Push("aa"));
        Assert.Equal("a", matcher.Push("a"));
        Assert.Equal("", matcher.Push("b"));
        Assert.True(matcher.Stopped);
    }

    [Fact]
    public void Without_stops_everything_passes_through()
    {
        var (released, matcher) = Run([], "a", "b", "");
        Assert.Equal("ab", released);
        Assert.False(matcher.Stopped);
    }

    [Fact]
    public void Stop_at_the_very_start_releases_nothing()
    {
        var (released, matcher) = Run(["<|im_end|>"], "<|im", "_end|>tail");
        Assert.Equal("", released);
        Assert.True(matcher.Stopped);
    }
}
