using Maas.Core.Llm;

namespace Maas.Core.Tests.Llm;

public sealed class KvSlotPlannerTests
{
    [Fact]
    public void Per_slot_buffers_keep_running_slots_consecutive()
    {
        var planner = new KvSlotPlanner(4, unified: false, prefixCache: true);
        var index = new PrefixCacheIndex();
        var running = new HashSet<int> { 0 };

        var plan = planner.Plan([1, 2, 3], index, id => !running.Contains(id));

        Assert.Equal(new SlotPlan(1, 0, null), plan);
    }

    [Fact]
    public void A_unified_buffer_copies_a_longer_prefix_held_by_a_busy_slot_into_an_empty_one()
    {
        var planner = new KvSlotPlanner(3, unified: true, prefixCache: true);
        var index = new PrefixCacheIndex();
        index.Append(0, [1, 2, 3, 4]);
        index.Append(1, [1, 2]);
        var running = new HashSet<int> { 0 };

        var plan = planner.Plan([1, 2, 3, 4, 5], index, id => !running.Contains(id));

        Assert.Equal(new SlotPlan(2, 4, 0), plan);
    }

    [Fact]
    public void Without_the_prefix_cache_nothing_is_reused()
    {
        var planner = new KvSlotPlanner(2, unified: false, prefixCache: false);
        var index = new PrefixCacheIndex();
        index.Append(1, [1, 2, 3]);

        var plan = planner.Plan([1, 2, 3, 4], index, _ => true);

        Assert.Equal(0, plan.Reuse);
        Assert.Null(plan.CopyFrom);
    }
}
