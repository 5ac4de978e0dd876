using Maas.Core.Formats.Gguf;
using Maas.Runtimes.Llama.Native;
using Maas.Runtimes.Llama.Training;
using Xunit.Abstractions;

namespace Maas.Runtimes.Llama.Tests.Training;

/// <summary>
/// Fine-tuning counts and learns only the assistant's tokens: the rendered chats mark exactly the assistant replies, the
/// chats are packed whole into windows, and training leaves the prompt side unlearnt, where the same training with every
/// position marked (the control) learns it.
/// </summary>
[Collection(LlamaCollection.Name)]
public sealed class AssistantOnlyLossTests(LlamaTestModels models, ITestOutputHelper output)
{
    private const string Question = "say the word";
    private const int Window = 256;

    // A fixed question and a fixed answer: both are trivially learnable, so only the mask decides which one is learnt.
    private static List<LlamaTrainingChat> Chats(int count) =>
        Enumerable.Range(0, count).Select(_ => new LlamaTrainingChat([new("user", Question), new("assistant", FineTuneTests.Pattern)])).ToList();

    [Fact]
    public void The_trained_positions_are_the_assistant_replies_and_the_chats_are_packed_whole()
    {
        _ = models.Generated;
        using var model = LlamaModel.Load(models.GeneratedPath, new LlamaModelOptions { UseMemoryMap = false });
        var chats = Chats(40);
        var rendered = TrainingWindows.Render(model, chats, Window, "training");

        // Each chat: the trained tokens spell the reply and its end-of-turn marker, nothing of the question or headers.
        var template = model.ChatTemplate!;
        var reply = LlamaChatTemplates.Apply(template, chats[0].Messages,
            addAssistant: false)[LlamaChatTemplates.Apply(template, chats[0].Messages.Take(1).ToList(), addAssistant: true).Length..];
        Assert.StartsWith(FineTuneTests.Pattern, reply, StringComparison.Ordinal);
        foreach (var (tokens, assistant) in rendered)
        {
            Assert.Equal(tokens.Count, assistant.Count);
            var trained = tokens.Where((_, i) => assistant[i]).ToArray();
            Assert.Equal(reply, model.Tokenizer.Detokenize(trained, unparseSpecial: true));
            Assert.Contains(Question, model.Tokenizer.Detokenize(tokens.Where((_, i) => !assistant[i]).ToArray(), unparseSpecial: true), StringComparison.Ordinal);
            Assert.DoesNotContain(FineTuneTests.Pattern, model.Tokenizer.Detokenize(tokens.Where((_, i) => !assistant[i]).ToArray(), unparseSpecial: true),
                StringComparison.Ordinal);
        }

        // Packed: whole chats back to back, as many as fit each window, the rest of the last window padding that never trains.
        var chatLength = rendered[0].Tokens.Count;
        var perWindow = (Window + 1) / chatLength;
        var packed = TrainingWindows.Pack(rendered, Window, null, pad: 0);
        Assert.Equal((chats.Count + perWindow - 1) / perWindow, packed.Windows.Count);
        Assert.True(packed.Windows.Count < chats.Count, $"{packed.Windows.Count} windows for {chats.Count} chats: nothing was packed");
        Assert.Equal(rendered.Sum(c => c.Assistant.Count(a => a)), packed.Windows.Sum(w => w.Trained.Count(t => t)));
        var inWindow = 0;
        foreach (var (tokens, next, trained) in packed.Windows)
        {
            Assert.Equal(Window, tokens.Length);
            Assert.Equal(tokens[1..], next[..^1]);
            var chatsHere = Math.Min(perWindow, chats.Count - inWindow);
            inWindow += chatsHere;
            Assert.True(tokens.AsSpan(0, chatLength * chatsHere).SequenceEqual([.. Enumerable.Range(0, chatsHere).SelectMany(_ => rendered[0].Tokens)]));
            Assert.DoesNotContain(true, trained[(chatLength * chatsHere)..]);
        }
    }

    [Fact]
    public void Training_learns_the_replies_and_leaves_the_prompt_side_unlearnt_unlike_training_every_position()
    {
        _ = models.Generated;
        var (assistantBefore, assistantAfter, promptBefore, promptAfter) = Train(everyPosition: false);
        output.WriteLine($"assistant-only: assistant loss {assistantBefore:F3} -> {assistantAfter:F3}, prompt loss {promptBefore:F3} -> {promptAfter:F3}");
        var control = Train(everyPosition: true);
        output.WriteLine($"every position: assistant loss {control.AssistantBefore:F3} -> {control.AssistantAfter:F3}, prompt loss {control.PromptBefore:F3} -> " +
            $"{control.PromptAfter:F3}");

        Assert.True(assistantAfter <= 0.5 * assistantBefore, $"the replies were not learnt: {assistantBefore:F3} -> {assistantAfter:F3}");
        Assert.True(promptAfter >= 0.8 * promptBefore, $"the prompt side was learnt although it is masked: {promptBefore:F3} -> {promptAfter:F3}");

        // The control shows the prompt side is learnable by the same training: the mask is what kept it unlearnt.
        Assert.True(control.PromptAfter <= 0.5 * control.PromptBefore, $"the control did not learn the prompt side: {control.PromptBefore:F3} -> {control.PromptAfter:F3}");
    }

    // Trains a fresh copy of the generated model on the packed chats, with the assistant mask or with every real position
    // marked; returns the mean loss per token on the assistant and on the prompt positions before and after.
    private (double AssistantBefore, double AssistantAfter, double PromptBefore, double PromptAfter) Train(bool everyPosition)
    {
        using var model = LlamaModel.Load(models.GeneratedPath, new LlamaModelOptions { UseMemoryMap = false });
        var rendered = TrainingWindows.Render(model, Chats(24), Window, "training");
        var pad = model.Tokenizer.Padding ?? model.Tokenizer.Eos ?? 0;
        var windows = TrainingWindows.Pack(rendered, Window, null, pad).Windows;

        // The positions that predict a token of the chats but not of a reply; the chats are alike, so each window holds
        // as many as fit and the padding tail predicts nothing.
        var chatLength = rendered[0].Tokens.Count;
        var perWindow = (Window + 1) / chatLength;
        var prompt = windows.Select((w, index) =>
        {
            var inChats = Math.Min(perWindow, rendered.Count - (index * perWindow)) * chatLength;
            return w.Trained.Select((t, i) => !t && i + 1 < inChats).ToArray();
        }).ToList();

        using var session = LlamaTrainingSession.Create(model.Handle, new TrainingSessionSettings(Window, Window, Window, 2, 0), model.VocabularySize);
        session.LearningRate = 1e-2f;
        double Loss(Func<int, bool[]> mask)
        {
            double sum = 0;
            long count = 0;
            for (var w = 0; w < windows.Count; w++)
            {
                var (s, c) = session.Evaluate(windows[w].Tokens, windows[w].Next, mask(w));
                sum += s;
                count += c;
            }

            Assert.True(count > 0);
            return sum / count;
        }

        var assistantBefore = Loss(w => windows[w].Trained);
        var promptBefore = Loss(w => prompt[w]);
        for (var epoch = 0; epoch < 4; epoch++)
        {
            for (var w = 0; w < windows.Count; w++)
            {
                var mask = everyPosition ? windows[w].Trained.Zip(prompt[w], (a, p) => a || p).ToArray() : windows[w].Trained;
                session.Train(windows[w].Tokens, windows[w].Next, mask);
            }
        }

        return (assistantBefore, Loss(w => windows[w].Trained), promptBefore, Loss(w => prompt[w]));
    }
}
