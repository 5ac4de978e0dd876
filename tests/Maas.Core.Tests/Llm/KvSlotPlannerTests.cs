using Maas.Core.Llm;

namespace Maas.Core.Tests.Llm;

public sealed class KvSlotPlannerTests
{
    // A chat template's opening, shared by every conversation.
    private static readonly int[] Template = [.. Enumerable.Range(1, 10)];

    private static int[] Conversation(int start, int length) => [.. Template, .. Enumerable.Range(start, length)];

    [Fact]
    public void A_conversation_goes_back_to_its_own_slot_rather_than_the_lowest_idle_one()
    {
        var planner = new KvSlotPlanner(4, unified: false, prefixCache: true);
        var index = new PrefixCacheIndex();
        var a = Conversation(1000, 40);
        index.Append(2, a);

        var plan = planner.Plan([.. a, 7, 8, 9], index, _ => true);

        Assert.Equal(new SlotPlan(2, a.Length, null), plan);
    }

    [Fact]
    public void A_shared_preamble_takes_an_empty_slot_instead_of_another_conversations()
    {
        var planner = new KvSlotPlanner(4, unified: false, prefixCache: true);
        var index = new PrefixCacheIndex();
        index.Append(0, Conversation(1000, 100));
        index.Append(1, Conversation(2000, 100));

        var plan = planner.Plan(Conversation(3000, 30), index, _ => true);

        Assert.Equal(new SlotPlan(2, 0, null), plan);
        Assert.Equal(110, index.LengthOf(0)); // a plan changes nothing
    }

    [Fact]
    public void With_every_slot_holding_a_conversation_a_shared_preamble_takes_the_stale_one()
    {
        var planner = new KvSlotPlanner(2, unified: false, prefixCache: true);
        var index = new PrefixCacheIndex();
        index.Append(1, Conversation(2000, 100)); // used first: the least recently used
        index.Append(0, Conversation(1000, 100));

        var plan = planner.Plan(Conversation(3000, 30), index, _ => true);

        Assert.Equal(1, plan.Target);
        Assert.Equal(Template.Length, plan.Reuse); // the stale slot's template part is still good
        Assert.Null(plan.CopyFrom);
    }

    [Fact]
    public void Per_slot_buffers_keep_running_slots_consecutive()
    {
        var planner = new KvSlotPlanner(4, unified: false, prefixCache: true);
        var index = new PrefixCacheIndex();
        var running = new HashSet<int> { 0, 2 };

        var plan = planner.Plan([1, 2, 3], index, id => !running.Contains(id));

        Assert.Equal(new SlotPlan(1, 0, null), plan); // fills the gap: slots 0 to 2 decode in one pass
    }

    [Fact]
    public void A_slot_apart_from_the_running_ones_is_worth_it_only_for_a_long_reuse_and_then_by_copy()
    {
        var planner = new KvSlotPlanner(4, unified: false, prefixCache: true);
        var running = new HashSet<int> { 0 };
        bool Idle(int id) => !running.Contains(id);

        var shortIndex = new PrefixCacheIndex();
        var brief = Conversation(1000, 10);
        shortIndex.Append(3, brief);
        Assert.Equal(new SlotPlan(1, 0, null), planner.Plan([.. brief, 5], shortIndex, Idle));

        var longIndex = new PrefixCacheIndex();
        var longer = Conversation(1000, 300);
        longIndex.Append(3, longer);
        Assert.Equal(new SlotPlan(1, longer.Length, 3), planner.Plan([.. longer, 5], longIndex, Idle));

        // Nothing running: no pass to save, the conversation's own slot in place.
        Assert.Equal(new SlotPlan(3, longer.Length, null), planner.Plan([.. longer, 5], longIndex, _ => true));
    }

    [Theory]
    [InlineData(4)]
    [InlineData(8)]
    [InlineData(12)]
    public void Under_churn_of_unrelated_prompts_the_running_slots_stay_one_run(int streams)
    {
        // Closed-loop traffic as the benchmark's plain scenario sends it: every slot already holds an old request,
        // each stream sends a new prompt (a shared opening plus its own words) as soon as its answer ends, and answers
        // end at different steps. With per-slot buffers every run of consecutive running slots is a pass of its own.
        const int slots = 16;
        var planner = new KvSlotPlanner(slots, unified: false, prefixCache: true);
        var index = new PrefixCacheIndex();
        var remaining = new int?[slots];
        var random = new Random(7);
        var next = 0;
        void Start(int steps)
        {
            int[] prompt = [.. Enumerable.Range(1, 22), .. Enumerable.Range(100_000 + (next * 100), 25)];
            var plan = planner.Plan(prompt, index, id => remaining[id] is null, steps: 48);
            index.Truncate(plan.Target, plan.Reuse);
            index.Append(plan.Target, prompt.AsSpan(plan.Reuse));
            index.MarkOutput(plan.Target, prompt.Length);
            index.Append(plan.Target, [.. Enumerable.Range(900_000 + (next * 100), 48)]); // its answer
            index.Touch(plan.Target);
            remaining[plan.Target] = steps;
            next++;
        }

        for (var i = 0; i < slots; i++)
        {
            Start(1);
            remaining[Array.FindIndex(remaining, r => r is not null)] = null;
        }

        for (var i = 0; i < streams; i++)
        {
            Start(48 - (i * 5));
        }

        var runs = 0;
        const int steps = 2000;
        for (var step = 0; step < steps; step++)
        {
            runs += Enumerable.Range(0, slots).Count(id => remaining[id] is not null && (id == 0 || remaining[id - 1] is null));
            var ended = Enumerable.Range(0, slots).Where(id => remaining[id] is 1).ToList();
            for (var id = 0; id < slots; id++)
            {
                remaining[id] = remaining[id] is > 1 and var r ? r - 1 : null;
            }

            foreach (var _ in ended)
            {
                Start(40 + random.Next(10));
            }
        }

        // A pass per 64 prompt tokens for the whole request, as the planner once counted it, gave 1.6 to 3 runs here.
        Assert.InRange((double)runs / steps, 1.0, 1.1);
    }

    [Fact]
    public void A_conversation_saved_to_host_memory_first_is_not_counted_lost_so_a_slot_beside_the_running_ones_wins()
    {
        // Slot 0 runs; slot 1, beside it, holds another conversation's evaluated 160-token prompt; slots 2 and 3 lie
        // apart (slot 3 empty). A new chat sharing only the template with slot 1:
        var index = new PrefixCacheIndex();
        var other = Conversation(2000, 150);
        index.Append(1, other);
        index.MarkOutput(1, other.Length);
        index.Append(2, Conversation(3000, 20));
        var running = new HashSet<int> { 0 };
        bool Idle(int id) => !running.Contains(id);
        int[] prompt = Conversation(4000, 30);

        // Without a host cache, slot 1's 150 own tokens are lost: the empty slot apart costs less (a pass a step).
        var without = new KvSlotPlanner(4, unified: false, prefixCache: true).Plan(prompt, index, Idle, steps: 48);
        Assert.Equal(3, without.Target);

        // With one, the engine saves slot 1 first (HostPromptCache.WorthSaving: another conversation takes it), so
        // its tokens cost a save and a later restore, not 150 tokens of prefill: slot 1, beside the running one.
        Assert.True(HostPromptCache.WorthSaving(other.Length, Template.Length, other.Length));
        var with = new KvSlotPlanner(4, unified: false, prefixCache: true, hostCache: true).Plan(prompt, index, Idle, steps: 48);
        Assert.Equal(new SlotPlan(1, Template.Length, null), with);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void A_shared_preamble_takes_an_empty_slot_rather_than_one_it_would_have_to_save(bool hostCache)
    {
        // Saving and restoring a conversation costs more than copying the preamble into an empty slot.
        var planner = new KvSlotPlanner(4, unified: false, prefixCache: true, hostCache);
        var index = new PrefixCacheIndex();
        var a = Conversation(1000, 100);
        index.Append(0, a);
        index.MarkOutput(0, a.Length);

        var plan = planner.Plan(Conversation(3000, 30), index, _ => true);

        Assert.NotEqual(0, plan.Target);
        Assert.Equal(0, index.LengthOf(plan.Target));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void A_conversations_next_turn_goes_back_to_its_slot_whatever_became_of_its_old_answer(bool hostCache)
    {
        // Slot 1 holds its evaluated prompt and the 40-token answer it generated; the next turn holds the whole prompt
        // but the answer as the client sent it back tokenizes differently. The answer is that conversation's own,
        // not another's: nothing is lost (it is not saved either: HostPromptCache.WorthSaving), so the slot is
        // reused in place rather than its prompt copied into the empty slot.
        var index = new PrefixCacheIndex();
        var own = Conversation(1000, 100);
        index.Append(1, own);
        index.MarkOutput(1, own.Length);
        index.Append(1, [.. Enumerable.Range(50_000, 40)]);
        Assert.False(HostPromptCache.WorthSaving(own.Length + 40, own.Length, own.Length));

        var plan = new KvSlotPlanner(2, unified: false, prefixCache: true, hostCache).Plan([.. own, 60_000, 60_001, 7, 8], index, _ => true);

        Assert.Equal(new SlotPlan(1, own.Length, null), plan);
    }

    [Fact]
    public void A_prefix_saved_in_host_memory_is_restored_when_it_beats_every_slot()
    {
        var planner = new KvSlotPlanner(2, unified: false, prefixCache: true);
        var index = new PrefixCacheIndex();
        index.Append(0, Conversation(1000, 100));
        var evicted = Conversation(2000, 100);

        var plan = planner.Plan([.. evicted, 5, 6], index, _ => true, new PrefixMatch(42, evicted.Length));

        Assert.Equal(new SlotPlan(1, evicted.Length, null, 42), plan);
    }

    [Theory]
    [InlineData(4)] // empty slots to copy into
    [InlineData(2)] // only a stale one
    public void The_same_prompt_again_goes_back_to_the_slot_that_evaluated_it_whole_rather_than_to_a_copy(int slots)
    {
        var planner = new KvSlotPlanner(slots, unified: false, prefixCache: true);
        var index = new PrefixCacheIndex();
        var prompt = Conversation(1000, 500);
        index.Append(0, Conversation(2000, 600)); // another, older prompt
        index.Append(1, prompt);
        index.MarkOutput(1, prompt.Length); // the engine kept the logits after it
        index.Append(1, [.. Enumerable.Range(7000, 48)]); // the answer it got

        Assert.Equal(new SlotPlan(1, prompt.Length, null), planner.Plan(prompt, index, _ => true));

        // A longer prompt (the conversation going on) cannot start from those logits, and keeps the answer.
        Assert.Equal(new SlotPlan(1, prompt.Length + 48, null), planner.Plan([.. prompt, .. Enumerable.Range(7000, 48), 5], index, _ => true));

        // A prompt that only begins like it is not a repeat: the slot's tokens beyond it count as lost.
        var shorter = prompt[..400];
        Assert.NotEqual(1, planner.Plan(shorter, index, _ => true).Target);
    }

    [Fact]
    public void A_recurring_prompt_held_by_a_busy_slot_is_copied_whole_with_its_logits()
    {
        var planner = new KvSlotPlanner(4, unified: false, prefixCache: true);
        var index = new PrefixCacheIndex();
        var prompt = Conversation(1000, 500);
        index.Append(1, prompt);
        index.MarkOutput(1, prompt.Length);
        var running = new HashSet<int> { 1 };

        var plan = planner.Plan(prompt, index, id => !running.Contains(id));

        Assert.Equal(new SlotPlan(0, prompt.Length, 1), plan);
    }

    [Fact]
    public void A_prompt_saved_in_host_memory_with_its_logits_is_restored_whole()
    {
        var planner = new KvSlotPlanner(2, unified: false, prefixCache: true);
        var index = new PrefixCacheIndex();
        index.Append(0, Conversation(1000, 100));
        var evicted = Conversation(2000, 100);

        Assert.Equal(new SlotPlan(1, evicted.Length, null, 42), planner.Plan(evicted, index, _ => true, new PrefixMatch(42, evicted.Length, Complete: true)));
        Assert.Equal(new SlotPlan(1, evicted.Length - 1, null, 42), planner.Plan(evicted, index, _ => true, new PrefixMatch(42, evicted.Length)));
    }

    [Fact]
    public void A_unified_buffer_copies_a_longer_prefix_held_by_a_busy_slot()
    {
        var planner = new KvSlotPlanner(3, unified: true, prefixCache: true);
        var index = new PrefixCacheIndex();
        index.Append(0, [1, 2, 3, 4]);
        index.Append(1, [1, 2]);
        var running = new HashSet<int> { 0 };

        var plan = planner.Plan([1, 2, 3, 4, 5], index, id => !running.Contains(id));

        Assert.Equal(new SlotPlan(1, 4, 0), plan); // slot 1's own two tokens are part of it: nothing lost
    }

    [Fact]
    public void Without_the_prefix_cache_nothing_is_reused()
    {
        var planner = new KvSlotPlanner(2, unified: false, prefixCache: false);
        var index = new PrefixCacheIndex();
        index.Append(1, [1, 2, 3]);

        var plan = planner.Plan([1, 2, 3, 4], index, _ => true, new PrefixMatch(7, 3));

        Assert.Equal(0, plan.Reuse);
        Assert.Null(plan.CopyFrom);
        Assert.Null(plan.RestoreFrom);
    }

    [Fact]
    public void Planning_with_no_idle_slot_is_refused()
    {
        var planner = new KvSlotPlanner(2, unified: false, prefixCache: true);
        Assert.Throws<InvalidOperationException>(() => planner.Plan([1], new PrefixCacheIndex(), _ => false));
    }
}
