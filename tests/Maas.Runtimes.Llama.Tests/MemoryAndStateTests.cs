using Maas.Testing;

namespace Maas.Runtimes.Llama.Tests;

[Collection(LlamaCollection.Name)]
public sealed class MemoryAndStateTests(LlamaTestModels models)
{
    [SharedModelFact(LlamaTestModels.TinyLlama)]
    public void Copying_a_prefix_to_another_sequence_continues_it_identically()
    {
        var model = models.Tiny;
        using var context = model.CreateContext(LlamaTestModels.SmallContext(sequences: 2));
        var prompt = model.Tokenizer.Tokenize("A shared system prompt that many requests start with");
        using var batch = new LlamaBatch(prompt.Length);
        batch.AddRange(prompt, 0, sequence: 0);
        context.Decode(batch);

        context.Memory.Copy(0, 1);
        Assert.Equal((0, prompt.Length - 1), context.Memory.GetPositions(1));

        // The same next token on both sequences in one batch: identical logits, without recomputing the prefix for 1.
        batch.Clear();
        var row0 = batch.Add(450, prompt.Length, 0, output: true);
        var row1 = batch.Add(450, prompt.Length, 1, output: true);
        context.Decode(batch);
        AssertClose(context.GetLogits(row0), context.GetLogits(row1));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void A_copied_prefix_replaces_the_destination_and_continues_as_if_computed_there(bool unified)
    {
        var model = models.Generated;
        using var context = model.CreateContext(LlamaTestModels.SmallContext(sequences: 2) with { UnifiedKvCache = unified });
        Assert.Equal(unified, context.UnifiedKvCache);
        int[] tokens = [.. Enumerable.Range(20, 10)];
        using var batch = new LlamaBatch(20);
        batch.AddRange(tokens, 0, 0);
        batch.AddRange([.. Enumerable.Range(70, 5)], 0, 1); // the destination's own tokens go
        context.Decode(batch);

        if (!unified)
        {
            Assert.Throws<ArgumentException>(() => context.Memory.Copy(0, 1, 0, 6)); // llama.cpp would abort the process
        }

        Assert.True(context.Memory.CopyPrefix(0, 1, 6));
        Assert.Equal((0, 5), context.Memory.GetPositions(1));
        Assert.Equal((0, 9), context.Memory.GetPositions(0));

        batch.Clear();
        batch.Add(tokens[6], 6, 1, output: true);
        context.Decode(batch);
        var copied = context.GetLogits().ToArray();

        using var fresh = model.CreateContext(LlamaTestModels.SmallContext());
        batch.Clear();
        batch.AddRange(tokens.AsSpan(0, 7), 0, 0);
        fresh.Decode(batch);
        AssertClose(fresh.GetLogits().ToArray(), copied);
    }

    [SharedModelFact(LlamaTestModels.TinyLlama)]
    public void Removing_a_tail_and_decoding_it_again_gives_the_same_logits()
    {
        var model = models.Tiny;
        using var context = model.CreateContext(LlamaTestModels.SmallContext());
        var prompt = model.Tokenizer.Tokenize("Removing the last tokens of a sequence lets a server retry");
        using var batch = new LlamaBatch(prompt.Length);
        batch.AddRange(prompt, 0, 0);
        context.Decode(batch);
        var before = context.GetLogits().ToArray();

        Assert.True(context.Memory.Remove(0, prompt.Length - 3));
        Assert.Equal(prompt.Length - 3, context.Memory.GetLength(0));

        batch.Clear();
        batch.AddRange(prompt.AsSpan(prompt.Length - 3), prompt.Length - 3, 0);
        context.Decode(batch);
        AssertClose(before, context.GetLogits());

        Assert.True(context.Memory.Remove(0));
        Assert.Equal((-1, -1), context.Memory.GetPositions(0));
    }

    [Fact]
    public void Keep_drops_other_sequences_and_shift_moves_positions()
    {
        var model = models.Generated;
        // Keep acts on the cells a sequence shares with others: that is all of them only with one unified KV buffer.
        using var context = model.CreateContext(LlamaTestModels.SmallContext(sequences: 3) with { UnifiedKvCache = true });
        using var batch = new LlamaBatch(30);
        batch.AddRange(Enumerable.Range(20, 10).ToArray(), 0, 0);
        batch.AddRange(Enumerable.Range(40, 10).ToArray(), 0, 1);
        batch.AddRange(Enumerable.Range(60, 10).ToArray(), 0, 2);
        context.Decode(batch);

        context.Memory.Keep(1);
        Assert.Equal((-1, -1), context.Memory.GetPositions(0));
        Assert.Equal((0, 9), context.Memory.GetPositions(1));
        Assert.Equal((-1, -1), context.Memory.GetPositions(2));

        Assert.True(context.Memory.CanShift);
        context.Memory.Remove(1, 0, 4);
        context.Memory.Shift(1, 4, -1, -4);
        Assert.Equal((0, 5), context.Memory.GetPositions(1));

        context.Memory.Clear();
        Assert.Equal((-1, -1), context.Memory.GetPositions(1));

        Assert.Throws<ArgumentOutOfRangeException>(() => context.Memory.Keep(3));
        Assert.Throws<ArgumentOutOfRangeException>(() => context.Memory.Copy(0, 7));
    }

    [SharedModelFact(LlamaTestModels.TinyLlama)]
    public void A_saved_sequence_state_restores_identical_next_token_logits()
    {
        var model = models.Tiny;
        using var context = model.CreateContext(LlamaTestModels.SmallContext(sequences: 2));
        var prompt = model.Tokenizer.Tokenize("Saving the state of a sequence lets a server park it");
        using var batch = new LlamaBatch(prompt.Length);
        batch.AddRange(prompt, 0, 0);
        context.Decode(batch);

        var state = context.SaveSequenceState(0);
        Assert.True(state.Length > 0);

        batch.Clear();
        batch.Add(1000, prompt.Length, 0, output: true);
        context.Decode(batch);
        var expected = context.GetLogits().ToArray();

        context.Memory.Remove(0);
        context.LoadSequenceState(1, state); // into another slot
        Assert.Equal((0, prompt.Length - 1), context.Memory.GetPositions(1));

        batch.Clear();
        batch.Add(1000, prompt.Length, 1, output: true);
        context.Decode(batch);
        AssertClose(expected, context.GetLogits());

        // A fresh context of the same model and KV layout (sequence count) takes the state too.
        using var other = model.CreateContext(LlamaTestModels.SmallContext(sequences: 2));
        other.LoadSequenceState(0, state);
        batch.Clear();
        batch.Add(1000, prompt.Length, 0, output: true);
        other.Decode(batch);
        AssertClose(expected, other.GetLogits());
    }

    [Fact]
    public void Garbage_state_is_refused()
    {
        using var context = models.Generated.CreateContext(LlamaTestModels.SmallContext());

        Assert.Throws<LlamaException>(() => context.LoadSequenceState(0, new byte[] { 1, 2, 3, 4, 5, 6, 7, 8 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => context.SaveSequenceState(5));
    }

    [Fact]
    public void Whole_context_state_round_trips()
    {
        using var context = models.Generated.CreateContext(LlamaTestModels.SmallContext());
        using var batch = new LlamaBatch(8);
        batch.AddRange([11, 12, 13, 14], 0, 0);
        context.Decode(batch);
        var state = context.SaveState();

        context.Memory.Clear();
        context.LoadState(state);

        Assert.Equal((0, 3), context.Memory.GetPositions(0));
    }

    private static void AssertClose(ReadOnlySpan<float> expected, ReadOnlySpan<float> actual)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (var i = 0; i < expected.Length; i++)
        {
            Assert.True(MathF.Abs(expected[i] - actual[i]) < 1e-3f, $"logit {i}: {expected[i]} vs {actual[i]}");
        }
    }
}
