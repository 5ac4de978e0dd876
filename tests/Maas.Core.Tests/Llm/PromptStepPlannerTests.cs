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
    public void A_mostly_cached_prompt_goes_before_an_older_cold_one_which_gets_only_the_rest_of_the_budget()
    {
        var planner = new PromptStepPlanner(staggered: true, chunkTokens: 128);

        // A cold 500-token prompt arrived first; a conversation's next turn needs 40 tokens beyond its cached turns.
        Assert.Equal([88, 40], Plan(planner, 500, new(500), new(40)));
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
    public void Prompts_join_a_step_fewest_tokens_first_until_its_token_budget()
    {
        var planner = new PromptStepPlanner(staggered: true, chunkTokens: 128);

        // Three conversation turns (40, 10, 12 tokens left) fit the budget together: one step, one wave.
        Assert.Equal([40, 10, 12], Plan(planner, 500, new(40), new(10), new(12)));

        // A wave of cold prompts of one size (plain chats arriving together): three to a step, the oldest first,
        // rather than one each and a pass over the weights each; the fourth would fit only 11 tokens, not worth a pass.
        Assert.Equal([39, 39, 39, 0], Plan(planner, 500, new(39), new(39), new(39), new(39)));

        // Fewest tokens left first, whatever arrived first: 38, 39, 40 (117 tokens); 41 would fit only 11.
        Assert.Equal([38, 40, 0, 39], Plan(planner, 500, new(38), new(40), new(41), new(39)));

        // Nor more than the room the generating sequences left.
        Assert.Equal([39, 39, 0], Plan(planner, 100, new(39), new(39), new(39)));
    }

    [Fact]
    public void A_short_turn_goes_in_the_next_step_while_a_cold_prompt_that_arrived_first_is_chunked_beside_it()
    {
        var planner = new PromptStepPlanner(staggered: true, chunkTokens: 256);

        // The turn's 50 new tokens first, then the rest of the budget for the 900-token cold prompt.
        Assert.Equal([206, 50], Plan(planner, 500, new(900), new(50)));

        // With a budget of a few tokens left, no chunk of the cold prompt starts (it would cost a pass for little).
        Assert.Equal([0, 240], Plan(planner, 500, new(900), new(240)));
    }

    [Theory]
    [InlineData(1, 0)]
    [InlineData(2, 0)]
    [InlineData(3, 0)]
    [InlineData(4, 4)]
    [InlineData(5, 2)]
    public void A_step_never_holds_more_than_its_budget_or_the_room_and_never_leaves_a_prompt_out_for_good(int seed, int burstPrompts)
    {
        const int budget = 128;
        var planner = new PromptStepPlanner(staggered: true, chunkTokens: budget, burstPrompts);
        var random = new Random(seed);
        var pending = new List<(int Id, PendingPrompt Prompt)>();
        var arrivedAt = new Dictionary<int, int>();
        var length = new Dictionary<int, int>();
        var next = 0;
        var longest = 0;
        for (var step = 0; step < 2000; step++)
        {
            // Prompts arrive at random, most short (a conversation's next turn), some long and cold.
            if (step < 1500 && pending.Count < 16 && random.Next(3) == 0)
            {
                arrivedAt[next] = step;
                length[next] = random.Next(4) == 0 ? random.Next(200, 1500) : random.Next(5, 120);
                pending.Add((next, new PendingPrompt(length[next], Cold: length[next] >= 100)));
                next++;
            }

            // The batch less the generating sequences' tokens: at least half the budget here.
            var room = random.Next(budget / 2, 600);
            var chunks = new int[pending.Count];
            planner.Plan([.. pending.Select(p => p.Prompt)], room, chunks);

            Assert.InRange(chunks.Sum(), pending.Count == 0 ? 0 : 1, Math.Min(planner.BudgetFor(pending.Count(p => p.Prompt.Cold)), room));
            for (var i = pending.Count - 1; i >= 0; i--)
            {
                var (id, prompt) = pending[i];
                Assert.InRange(chunks[i], 0, prompt.Remaining);
                if (chunks[i] == prompt.Remaining)
                {
                    // Done within a bounded wait however many shorter ones kept arriving: never more than
                    // MaxPassOvers steps in a row passed over while not starved, then among the starved ones (at most
                    // all 16) the longest waiting first, with at least half a budget a step.
                    var chunksNeeded = (length[id] + (budget / 2) - 1) / (budget / 2);
                    longest = Math.Max(longest, step - arrivedAt[id]);
                    Assert.InRange(step - arrivedAt[id], 0, (chunksNeeded + 16) * (PromptStepPlanner.MaxPassOvers + 1));
                    pending.RemoveAt(i);
                }
                else
                {
                    pending[i] = (id, prompt with { Remaining = prompt.Remaining - chunks[i], PassedOver = chunks[i] == 0 ? prompt.PassedOver + 1 : 0 });
                }
            }
        }

        // Every prompt got all its tokens once arrivals stopped.
        Assert.Empty(pending);
        Assert.True(longest > PromptStepPlanner.MaxPassOvers, $"the traffic never made a prompt wait ({longest} steps): the test proves nothing");
    }

    [Fact]
    public void Conversation_turns_go_one_to_a_step_and_a_burst_of_cold_prompts_several_to_a_step()
    {
        var planner = new PromptStepPlanner(staggered: true, chunkTokens: 64, burstPrompts: 2);
        Assert.Equal([64, 64, 64, 128, 128, 192, 256, 512], new[] { 0, 1, 2, 3, 4, 5, 8, 16 }.Select(planner.BudgetFor));

        // Eight conversation turns of 51 tokens left (mostly cached): one a step however many wait (13 tokens of room
        // are too few to start another).
        var turns = Plan(planner, 500, [.. Enumerable.Repeat(new PendingPrompt(51), 8)]);
        Assert.Equal([51, 0, 0, 0, 0, 0, 0, 0], turns);

        // Eight cold chats of 39 tokens at once (a wave from 8 clients): six to a step.
        var wave = Plan(planner, 500, [.. Enumerable.Repeat(new PendingPrompt(39, Cold: true), 8)]);
        Assert.Equal([39, 39, 39, 39, 39, 39, 0, 0], wave);

        // Without bursts the budget is fixed: one chat a step.
        Assert.Equal(1, Plan(new PromptStepPlanner(true, 64), 500, [.. Enumerable.Repeat(new PendingPrompt(39, Cold: true), 8)]).Count(c => c > 0));
    }

    [Fact]
    public void A_prompt_passed_over_too_long_goes_first()
    {
        var planner = new PromptStepPlanner(staggered: true, chunkTokens: 128);

        Assert.Equal([108, 20], Plan(planner, 500, new(500, PromptStepPlanner.MaxPassOvers - 1), new(20)));
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
