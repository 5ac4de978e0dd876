using Maas.Core.Llm;

namespace Maas.Core.Tests.Llm;

public sealed class PromptStepPlannerTests
{
    private static int[] Plan(PromptStepPlanner planner, int capacity, params PendingPrompt[] pending)
    {
        var chunks = new int[pending.Length];
        var prompts = planner.Plan(pending, capacity, chunks);
        Assert.Equal(chunks.Count(c => c > 0), prompts);
        return chunks;
    }

    [Fact]
    public void A_mostly_cached_prompt_goes_before_an_older_cold_one_and_alone()
    {
        var planner = new PromptStepPlanner(staggered: true, chunkTokens: 128);

        // A cold 500-token prompt arrived first; a conversation's next turn needs 40 tokens beyond its cached turns.
        Assert.Equal([0, 40], Plan(planner, 500, new(500), new(40)));
    }

    [Fact]
    public void A_long_prompt_is_decoded_in_chunks_within_the_room_left()
    {
        var planner = new PromptStepPlanner(staggered: true, chunkTokens: 128);

        Assert.Equal([128], Plan(planner, 504, new PendingPrompt(500)));
        Assert.Equal([60], Plan(planner, 60, new PendingPrompt(500)));
        Assert.Equal([12], Plan(planner, 504, new PendingPrompt(12)));
    }

    [Fact]
    public void Small_prompts_share_a_step_while_it_holds_few_tokens()
    {
        var planner = new PromptStepPlanner(staggered: true, chunkTokens: 128);

        // 10 and 12 fit in PackTokens together; 40 more would make the first wait for six times its own tokens.
        Assert.Equal([0, 10, 12], Plan(planner, 500, new(40), new(10), new(12)));
    }

    [Fact]
    public void Similar_prompts_share_a_step_while_the_first_waits_for_at_most_twice_its_own_tokens()
    {
        var planner = new PromptStepPlanner(staggered: true, chunkTokens: 128);

        // A wave of cold prompts of one size (plain chats arriving together): three to a step, the oldest first,
        // rather than one each and a pass over the weights each.
        Assert.Equal([39, 39, 39, 0], Plan(planner, 500, new(39), new(39), new(39), new(39)));

        // The shortest first (38), then whole prompts while the step holds at most 3 x 38 = 114 tokens: 39, not 40.
        Assert.Equal([38, 0, 0, 39], Plan(planner, 500, new(38), new(40), new(41), new(39)));

        // Never more than the chunk: two prompts of 60, not three.
        Assert.Equal([60, 60, 0], Plan(planner, 500, new(60), new(60), new(60)));

        // Nor more than the room the generating sequences left.
        Assert.Equal([39, 39, 0], Plan(planner, 100, new(39), new(39), new(39)));
    }

    [Fact]
    public void A_prompt_passed_over_too_long_goes_first()
    {
        var planner = new PromptStepPlanner(staggered: true, chunkTokens: 128);

        Assert.Equal([0, 20], Plan(planner, 500, new(500, PromptStepPlanner.MaxPassOvers - 1), new(20)));
        Assert.Equal([128, 0], Plan(planner, 500, new(500, PromptStepPlanner.MaxPassOvers), new(20)));
    }

    [Fact]
    public void Batched_every_prompt_joins_in_arrival_order_up_to_the_batch()
    {
        var planner = new PromptStepPlanner(staggered: false, chunkTokens: 128);

        Assert.Equal([500, 40], Plan(planner, 600, new(500), new(40)));
        Assert.Equal([500, 4, 0], Plan(planner, 504, new(500), new(40), new(10)));
    }
}
