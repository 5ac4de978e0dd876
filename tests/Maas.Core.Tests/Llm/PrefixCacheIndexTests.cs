using Maas.Core.Llm;

namespace Maas.Core.Tests.Llm;

public sealed class PrefixCacheIndexTests
{
    [Fact]
    public void Finds_the_entry_with_the_longest_shared_prefix()
    {
        var index = new PrefixCacheIndex();
        index.Append(0, [1, 2, 3, 4, 5]);
        index.Append(1, [1, 2, 9]);
        index.Append(2, [7, 8]);

        Assert.Equal(new PrefixMatch(0, 4), index.FindLongest([1, 2, 3, 4, 6, 7]));
        Assert.Equal(new PrefixMatch(1, 3), index.FindLongest([1, 2, 9, 9]));
        Assert.Equal(new PrefixMatch(2, 1), index.FindLongest([7, 1]));
        Assert.Null(index.FindLongest([5, 5]));
        Assert.Null(index.FindLongest([]));
    }

    [Fact]
    public void Shared_prefixes_share_nodes()
    {
        var index = new PrefixCacheIndex();
        index.Append(0, [1, 2, 3, 4]);
        index.Append(1, [1, 2, 3, 5]);
        Assert.Equal(5, index.NodeCount);
        index.Remove(0);
        Assert.Equal(4, index.NodeCount);
        index.Remove(1);
        Assert.Equal(0, index.NodeCount);
        Assert.Equal(0, index.Count);
    }

    [Fact]
    public void Eligibility_filter_skips_entries_and_falls_back_to_shorter_matches()
    {
        var index = new PrefixCacheIndex();
        index.Append(0, [1, 2, 3, 4]);
        index.Append(1, [1, 2]);
        Assert.Equal(new PrefixMatch(1, 2), index.FindLongest([1, 2, 3, 4], id => id != 0));
        Assert.Null(index.FindLongest([1, 2, 3, 4], _ => false));
    }

    [Fact]
    public void Ties_go_to_the_most_recently_used_entry()
    {
        var index = new PrefixCacheIndex();
        index.Append(0, [1, 2, 3]);
        index.Append(1, [1, 2, 3]);
        Assert.Equal(1, index.FindLongest([1, 2, 3])!.Value.EntryId);
        index.Touch(0);
        Assert.Equal(0, index.FindLongest([1, 2, 3])!.Value.EntryId);
    }

    [Fact]
    public void Truncate_and_append_follow_the_kv_sequence()
    {
        var index = new PrefixCacheIndex();
        index.Append(0, [1, 2, 3, 4]);
        index.Truncate(0, 2);
        Assert.Equal([1, 2], index.TokensOf(0));
        Assert.Equal(2, index.NodeCount);
        index.Append(0, 9);
        Assert.Equal([1, 2, 9], index.TokensOf(0));
        Assert.Equal(new PrefixMatch(0, 3), index.FindLongest([1, 2, 9, 4]));
        Assert.Equal(new PrefixMatch(0, 2), index.FindLongest([1, 2, 3, 4]));
    }

    [Fact]
    public void Least_recently_used_entry_is_evicted_first()
    {
        var index = new PrefixCacheIndex();
        index.Append(0, [1]);
        index.Append(1, [2]);
        index.Append(2, [3]);
        Assert.Equal(0, index.LeastRecentlyUsed(_ => true));
        index.Touch(0);
        Assert.Equal(1, index.LeastRecentlyUsed(_ => true));
        Assert.Equal(2, index.LeastRecentlyUsed(id => id != 1));
        Assert.Null(index.LeastRecentlyUsed(_ => false));
    }

    [Fact]
    public void Long_sequences_are_matched_in_time_proportional_to_the_match()
    {
        var index = new PrefixCacheIndex();
        var shared = Enumerable.Range(0, 4000).ToArray();
        for (var slot = 0; slot < 16; slot++)
        {
            index.Append(slot, shared.Concat(Enumerable.Repeat(slot + 10_000, 100)).ToArray());
        }

        var prompt = shared.Concat(new[] { 10_005, 10_005, 1 }).ToList();
        Assert.Equal(new PrefixMatch(5, 4002), index.FindLongest(prompt));
    }

    [Fact]
    public void An_output_mark_stays_while_the_entry_still_holds_its_tokens()
    {
        var index = new PrefixCacheIndex();
        index.Append(0, [1, 2, 3, 4]);
        index.MarkOutput(0, 3);
        index.MarkOutput(5, 1); // unknown entry: ignored
        index.MarkOutput(0, 9); // beyond what it holds: ignored

        Assert.Equal(3, index.OutputAt(0));
        index.Append(0, [5, 6]);
        index.Truncate(0, 3);
        Assert.Equal(3, index.OutputAt(0));
        index.Truncate(0, 2);
        Assert.Equal(0, index.OutputAt(0));
        index.Append(0, [3]);
        Assert.Equal(0, index.OutputAt(0)); // the same tokens again, but their logits were not kept
        Assert.Equal(0, index.OutputAt(5));
    }
}
