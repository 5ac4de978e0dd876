using Maas.Core.Llm;

namespace Maas.Core.Tests.Llm;

public sealed class HostPromptCacheTests
{
    [Fact]
    public void Never_holds_more_than_its_budget_dropping_the_least_recently_used()
    {
        var cache = new HostPromptCache(250);
        for (var i = 0; i < 10; i++)
        {
            Assert.True(cache.Add([100 * i, 1, 2, 3], new byte[100]));
            Assert.InRange(cache.Bytes, 100, 250);
        }

        Assert.Equal(2, cache.Count);
        Assert.Equal(8, cache.Evictions);
        Assert.Equal(4, cache.FindLongest([900, 1, 2, 3])?.Length);
        Assert.Equal(4, cache.FindLongest([800, 1, 2, 3])?.Length);
        Assert.Null(cache.FindLongest([700, 1]));
    }

    [Fact]
    public void A_state_larger_than_the_budget_or_already_held_is_not_saved()
    {
        var cache = new HostPromptCache(100);
        Assert.False(cache.Add([1, 2], new byte[101]));
        Assert.True(cache.Add([1, 2, 3], new byte[10]));
        Assert.False(cache.Add([1, 2], new byte[10])); // [1, 2, 3] holds it
        Assert.Equal(10, cache.Bytes);
        Assert.False(new HostPromptCache(0).Add([1], new byte[1]));
    }

    [Fact]
    public void A_longer_prompt_replaces_the_ones_it_begins_with()
    {
        var cache = new HostPromptCache(1000);
        cache.Add([1, 2], new byte[10]);
        cache.Add([1, 2, 3], new byte[20]);
        cache.Add([1, 5], new byte[30]);

        Assert.Equal(2, cache.Count);
        Assert.Equal(50, cache.Bytes);
    }

    [Fact]
    public void Take_hands_back_the_state_and_forgets_it()
    {
        var cache = new HostPromptCache(1000);
        var state = new byte[] { 7, 8, 9 };
        cache.Add([4, 5, 6], state);
        var match = cache.FindLongest([4, 5, 6, 7])!.Value;

        var (tokens, taken, _, _) = cache.Take(match.EntryId);

        Assert.Equal([4, 5, 6], tokens);
        Assert.Same(state, taken);
        Assert.Equal(0, cache.Bytes);
        Assert.Null(cache.FindLongest([4, 5]));
        Assert.Throws<KeyNotFoundException>(() => cache.Take(match.EntryId));
    }

    [Fact]
    public void Kept_logits_count_in_the_budget_and_come_back_with_the_state()
    {
        var cache = new HostPromptCache(1000);
        float[] logits = [0.5f, -1f, 2f];
        Assert.True(cache.Add([1, 2, 3, 4, 5], new byte[100], logits, logitsAt: 3));

        Assert.Equal(112, cache.Bytes);
        Assert.Equal(new PrefixMatch(0, 3, Complete: true), cache.FindLongest([1, 2, 3])); // the prompt those logits followed
        Assert.Equal(new PrefixMatch(0, 4, Complete: false), cache.FindLongest([1, 2, 3, 4])); // no logits after 4 tokens
        Assert.False(cache.FindLongest([1, 2, 3, 9])!.Value.Complete);

        var (tokens, _, taken, at) = cache.Take(0);
        Assert.Equal([1, 2, 3, 4, 5], tokens);
        Assert.Same(logits, taken);
        Assert.Equal(3, at);
        Assert.Equal(0, cache.Bytes);
        Assert.Throws<ArgumentOutOfRangeException>(() => cache.Add([1, 2], new byte[1], logits, logitsAt: 3));
    }

    [Fact]
    public void A_state_in_a_larger_buffer_counts_the_buffer_and_comes_back_as_the_part_it_fills()
    {
        var cache = new HostPromptCache(1000);
        var buffer = new ArrayBuffer(new byte[300]);
        Assert.True(cache.Add([1, 2, 3], buffer, 120));
        Assert.Equal(300, cache.Bytes);

        var (_, taken, length, _, _) = cache.TakeBuffer(0);
        Assert.Same(buffer, taken);
        Assert.Equal(120, length);
        Assert.Throws<ArgumentOutOfRangeException>(() => cache.Add([4], buffer, 301));

        buffer.Array.AsSpan(0, 3).Fill(7);
        Assert.True(cache.Add([5], buffer, 3));
        Assert.Equal([7, 7, 7], cache.Take(cache.FindLongest([5])!.Value.EntryId).State); // the part it fills, as an array
    }

    [Fact]
    public void Dropped_states_are_handed_back_but_taken_ones_are_not()
    {
        var dropped = new List<byte[]>();
        var cache = new HostPromptCache(250, b => dropped.Add(((ArrayBuffer)b).Array));
        byte[][] states = [new byte[100], new byte[100], new byte[100], new byte[100], new byte[100]];
        cache.Add([1, 2], states[0]);
        cache.Add([1, 2, 3], states[1]); // replaces [1, 2]
        cache.Add([5], states[2]);
        cache.Add([6], states[3]); // evicts [1, 2, 3], the least recently used
        Assert.Equal([states[0], states[1]], dropped);

        cache.Take(cache.FindLongest([5])!.Value.EntryId);
        Assert.Equal(2, dropped.Count);
        cache.Add([7], states[4]);
        cache.Clear();
        Assert.Equal([states[0], states[1], states[3], states[4]], dropped);
    }

    [Theory]
    [InlineData(600, 599, 0, false)] // the same prompt again, only the old answer lost: the slot still holds it
    [InlineData(600, 552, 552, false)] // the same prompt again (552 tokens and a 48-token answer): the answer alone
    [InlineData(600, 570, 552, false)] // the conversation's next turn: it holds the slot's prompt, and part of the answer
    [InlineData(600, 350, 0, false)] // most of it kept, nothing known of its prompt
    [InlineData(600, 350, 552, true)] // another conversation sharing a long system prompt: its own turns are lost
    [InlineData(600, 580, 590, false)] // parts inside the prompt, but too little lost to be worth a copy
    [InlineData(600, 300, 0, true)] // half of it lost
    [InlineData(600, 10, 552, true)] // another conversation sharing only the template
    [InlineData(600, 0, 0, true)] // evicted whole
    [InlineData(40, 10, 30, false)] // too little lost to be worth a copy
    [InlineData(0, 0, 0, false)]
    public void A_slot_is_saved_when_another_prompt_parts_from_its_own_or_when_it_loses_at_least_half(int held, int kept, int evaluated, bool saved) =>
        Assert.Equal(saved, HostPromptCache.WorthSaving(held, kept, evaluated));
}
