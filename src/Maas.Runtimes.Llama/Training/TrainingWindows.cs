namespace Maas.Runtimes.Llama.Training;

/// <summary>Chats rendered with a model's chat template, tokenized, and packed whole into fixed-size training windows.</summary>
internal sealed class TrainingWindows
{
    private TrainingWindows(List<(int[] Tokens, int[] Next, bool[] Trained)> windows, long assistantTokens)
    {
        Windows = windows;
        AssistantTokens = assistantTokens;
    }

    /// <summary>Each window: its tokens, the token after each position, and whether that next token is trained on.</summary>
    public IReadOnlyList<(int[] Tokens, int[] Next, bool[] Trained)> Windows { get; }

    /// <summary>Assistant tokens across all windows (the positions the loss counts).</summary>
    public long AssistantTokens { get; }

    /// <summary>Renders and tokenizes <paramref name="chats"/>; <paramref name="what"/> names the file in errors ("training", "validation").</summary>
    /// <exception cref="LlamaFineTuneRefusedException">A chat has no assistant message, does not fit <paramref name="window"/>, or the template cannot be split by
    /// message.</exception>
    public static List<(List<int> Tokens, List<bool> Assistant)> Render(LlamaModel model, IReadOnlyList<LlamaTrainingChat> chats, int window, string what)
    {
        var template = model.ChatTemplate ?? LlamaChatTemplates.Default;
        var rendered = new List<(List<int>, List<bool>)>(chats.Count);
        for (var i = 0; i < chats.Count; i++)
        {
            var (tokens, mask) = Render(model, template, chats[i], $"{what} file line {i + 1}");
            if (tokens.Count > window + 1)
            {
                throw new LlamaFineTuneRefusedException(
                    $"{what} file line {i + 1}: the chat is {tokens.Count} tokens long, longer than the training window of {window} tokens");
            }

            rendered.Add((tokens, mask));
        }

        return rendered;
    }

    /// <summary>
    /// The smallest window (a multiple of 256, llama.cpp's context padding) that holds every group of
    /// <paramref name="chatsPerWindow"/> consecutive training chats and every validation chat; refused when a group
    /// needs more than <paramref name="maxWindow"/>.
    /// </summary>
    public static int FitWindow(
        IReadOnlyList<(List<int> Tokens, List<bool> Assistant)> training, IReadOnlyList<(List<int> Tokens, List<bool> Assistant)> validation, int chatsPerWindow, int maxWindow)
    {
        var longest = validation.Select(c => c.Tokens.Count).DefaultIfEmpty(1).Max();
        for (var start = 0; start < training.Count; start += chatsPerWindow)
        {
            var end = Math.Min(training.Count, start + chatsPerWindow);
            var tokens = 0;
            for (var i = start; i < end; i++)
            {
                tokens += training[i].Tokens.Count;
            }

            // A window of W positions reads W + 1 tokens.
            if (tokens > maxWindow + 1)
            {
                throw new LlamaFineTuneRefusedException(
                    $"batch_size {chatsPerWindow}: the chats of training file lines {start + 1} to {end} are {tokens} tokens long together, more than the training window of " +
                    $"{maxWindow} tokens holds; use a smaller batch_size");
            }

            longest = Math.Max(longest, tokens);
        }

        return Math.Min(maxWindow, Math.Max(256, (longest - 1 + 255) / 256 * 256));
    }

    /// <summary>
    /// Packs rendered chats, whole and in order, into windows of <paramref name="window"/> positions: as many as fit
    /// each window, or exactly <paramref name="chatsPerWindow"/> per window when given (they must fit).
    /// </summary>
    public static TrainingWindows Pack(IReadOnlyList<(List<int> Tokens, List<bool> Assistant)> chats, int window, int? chatsPerWindow, int pad)
    {
        var windows = new List<(int[], int[], bool[])>();
        var tokens = new List<int>(window + 1);
        var assistant = new List<bool>(window + 1);
        var inWindow = 0;
        long assistantTokens = 0;

        void Flush()
        {
            if (tokens.Count == 0)
            {
                return;
            }

            // A window of W positions reads W + 1 tokens: position p predicts token p + 1. The tail is padding, never trained.
            while (tokens.Count < window + 1)
            {
                tokens.Add(pad);
                assistant.Add(false);
            }

            windows.Add(([.. tokens[..window]], [.. tokens[1..]], [.. assistant[1..]]));
            tokens.Clear();
            assistant.Clear();
            inWindow = 0;
        }

        foreach (var (chatTokens, chatMask) in chats)
        {
            if (chatsPerWindow is { } per ? inWindow == per : tokens.Count + chatTokens.Count > window + 1)
            {
                Flush();
            }

            if (tokens.Count + chatTokens.Count > window + 1)
            {
                throw new InvalidOperationException($"a group of chats does not fit the window of {window} tokens"); // FitWindow sized it
            }

            tokens.AddRange(chatTokens);
            assistant.AddRange(chatMask);
            assistantTokens += chatMask.Count(m => m);
            inWindow++;
        }

        Flush();
        return new TrainingWindows(windows, assistantTokens);
    }

    /// <summary>The chat's tokens and, per token, whether it belongs to an assistant message (its content and end-of-turn marker).</summary>
    private static (List<int> Tokens, List<bool> Assistant) Render(LlamaModel model, string template, LlamaTrainingChat chat, string where)
    {
        var messages = chat.Messages;
        var full = LlamaChatTemplates.Apply(template, messages, addAssistant: false);
        var spans = new List<(int Start, int End)>();
        for (var k = 0; k < messages.Count; k++)
        {
            if (messages[k].Role != "assistant")
            {
                continue;
            }

            // The text before message k with the assistant header, and the text through message k: the difference is
            // what the model must learn to write.
            var prompt = LlamaChatTemplates.Apply(template, messages.Take(k).ToList(), addAssistant: true);
            var through = LlamaChatTemplates.Apply(template, messages.Take(k + 1).ToList(), addAssistant: false);
            if (!through.StartsWith(prompt, StringComparison.Ordinal) || !full.StartsWith(through, StringComparison.Ordinal))
            {
                throw new LlamaFineTuneRefusedException(
                    $"{where}: the model's chat template does not render this chat message by message, so the assistant tokens cannot be found");
            }

            spans.Add((prompt.Length, through.Length));
        }

        if (spans.Count == 0)
        {
            throw new LlamaFineTuneRefusedException($"{where}: the chat has no assistant message to learn from");
        }

        var tokens = new List<int>();
        var mask = new List<bool>();
        var cursor = 0;
        void Add(int start, int end, bool trained)
        {
            if (end <= start)
            {
                return;
            }

            var piece = model.Tokenizer.Tokenize(full[start..end], addSpecial: tokens.Count == 0, parseSpecial: true);
            tokens.AddRange(piece);
            mask.AddRange(Enumerable.Repeat(trained, piece.Length));
        }

        foreach (var (start, end) in spans)
        {
            Add(cursor, start, trained: false);
            Add(start, end, trained: true);
            cursor = end;
        }

        Add(cursor, full.Length, trained: false);
        return (tokens, mask);
    }
}
