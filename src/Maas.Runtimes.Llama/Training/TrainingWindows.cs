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

    /// <summary>Renders, tokenizes and packs <paramref name="chats"/>; <paramref name="what"/> names the file in errors ("training", "validation").</summary>
    /// <exception cref="LlamaFineTuneRefusedException">A chat has no assistant message, does not fit a window, or the template cannot be split by message.</exception>
    public static TrainingWindows Pack(LlamaModel model, IReadOnlyList<LlamaTrainingChat> chats, int window, string what)
    {
        var template = model.ChatTemplate ?? LlamaChatTemplates.Default;
        var pad = model.Tokenizer.Padding ?? model.Tokenizer.Eos ?? 0;
        var windows = new List<(int[], int[], bool[])>();
        var tokens = new List<int>(window + 1);
        var assistant = new List<bool>(window + 1);
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
        }

        for (var i = 0; i < chats.Count; i++)
        {
            var (chatTokens, chatMask) = Render(model, template, chats[i], $"{what} file line {i + 1}");
            if (chatTokens.Count > window + 1)
            {
                throw new LlamaFineTuneRefusedException(
                    $"{what} file line {i + 1}: the chat is {chatTokens.Count} tokens long, longer than the training window of {window} tokens");
            }

            if (tokens.Count + chatTokens.Count > window + 1)
            {
                Flush();
            }

            tokens.AddRange(chatTokens);
            assistant.AddRange(chatMask);
            assistantTokens += chatMask.Count(m => m);
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
