using Maas.Core.Llm;

namespace Maas.Core.Tests.Llm;

public sealed class RequestQueueAndLimitsTests
{
    [Fact]
    public void Full_queue_refuses_at_once_with_queue_full()
    {
        var queue = new LlmRequestQueue<string>(2);
        queue.Enqueue("a");
        queue.Enqueue("b");
        var error = Assert.Throws<LlmException>(() => queue.Enqueue("c"));
        Assert.Equal(LlmErrorKind.QueueFull, error.Kind);
        Assert.Contains("2 requests", error.Message, StringComparison.Ordinal);

        Assert.True(queue.Remove("a"));
        queue.Enqueue("c");
        Assert.True(queue.TryDequeue(out var first));
        Assert.Equal("b", first);
        Assert.Single(queue.DrainAll());
        Assert.False(queue.TryDequeue(out _));
    }

    [Fact]
    public void Free_slots_take_requests_beyond_the_waiting_limit()
    {
        var queue = new LlmRequestQueue<string>(0);
        queue.Enqueue("a", freeSlots: 2);
        queue.Enqueue("b", freeSlots: 2);
        Assert.Equal(LlmErrorKind.QueueFull, Assert.Throws<LlmException>(() => queue.Enqueue("c", freeSlots: 2)).Kind);
        Assert.Equal(LlmErrorKind.QueueFull, Assert.Throws<LlmException>(() => queue.Enqueue("c")).Kind);
    }

    [Fact]
    public void Choices_queued_together_are_all_queued_or_none()
    {
        var queue = new LlmRequestQueue<string>(3);
        queue.Enqueue("a");
        queue.EnqueueAll(["b", "c"]);
        // Two more would make four waiting: neither is queued, not the first of them alone.
        Assert.Equal(LlmErrorKind.QueueFull, Assert.Throws<LlmException>(() => queue.EnqueueAll(["d", "e"])).Kind);
        Assert.Equal(3, queue.Count);
        queue.EnqueueAll(["d", "e"], freeSlots: 2);
        Assert.Equal(["a", "b", "c", "d", "e"], queue.DrainAll());
    }

    [Fact]
    public void Context_overflow_names_the_numbers()
    {
        var error = Assert.Throws<LlmException>(() => GenerationLimits.Resolve(100, 50, 128, 0));
        Assert.Equal(LlmErrorKind.ContextOverflow, error.Kind);
        Assert.Equal("context_length_exceeded", error.Code);
        Assert.Contains("128", error.Message, StringComparison.Ordinal);
        Assert.Contains("150", error.Message, StringComparison.Ordinal);
        Assert.Contains("100 in the messages", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Missing_max_tokens_takes_what_is_left_up_to_the_cap()
    {
        Assert.Equal(28, GenerationLimits.Resolve(100, null, 128, 0));
        Assert.Equal(10, GenerationLimits.Resolve(100, null, 128, 10));
        Assert.Equal(5, GenerationLimits.Resolve(100, 5, 128, 10));
        Assert.Throws<LlmException>(() => GenerationLimits.Resolve(100, 11, 128, 10));
        Assert.Throws<LlmException>(() => GenerationLimits.Resolve(128, null, 128, 0));
    }

    [Fact]
    public void Token_budget_reserves_and_gives_back()
    {
        var budget = new TokenBudget(100);
        var a = budget.Reserve(60);
        var error = Assert.Throws<LlmException>(() => budget.Reserve(50));
        Assert.Equal(LlmErrorKind.QueueFull, error.Kind);
        a.Dispose();
        a.Dispose();
        Assert.Equal(0, budget.Reserved);
        using var b = budget.Reserve(50);
        Assert.Equal(LlmErrorKind.InvalidRequest, Assert.Throws<LlmException>(() => budget.Reserve(101)).Kind);
        using var unlimited = new TokenBudget(0).Reserve(long.MaxValue / 2);
    }

    [Fact]
    public void ChatMl_default_format_opens_the_assistant_turn()
    {
        var text = ChatMlFormat.Format([new ChatMessage("system", "Be brief."), new ChatMessage("user", "Hi")]);
        Assert.Equal("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n", text);
    }
}
