namespace Maas.Core.Llm;

/// <summary>
/// Renders a chat with the model's template and tokenizes it so that only the template writes special tokens: text
/// in a message that spells one (<c>&lt;|im_start|&gt;</c>, <c>&lt;/s&gt;</c>) stays ordinary text, and a caller
/// cannot forge turns or end markers.
/// </summary>
/// <remarks>
/// Content without special-token text is tokenized with the rest of the prompt in one pass, exactly as the template
/// renders it. Otherwise each message's content goes through the template as a unique marker, and the prompt is
/// tokenized piece by piece: the template's text with special tokens parsed, the content as plain text.
/// </remarks>
public static class ChatPromptTokenizer
{
    /// <summary>The prompt's tokens, BOS included when the model wants one.</summary>
    public static IReadOnlyList<int> Tokenize(ILlmEngine engine, IReadOnlyList<ChatMessage> messages)
    {
        ArgumentNullException.ThrowIfNull(engine);
        ArgumentNullException.ThrowIfNull(messages);
        if (!messages.Any(m => SpellsSpecialTokens(engine, m.Content)))
        {
            return engine.Tokenize(engine.FormatChat(messages), addSpecial: true, parseSpecial: true);
        }

        var nonce = Guid.NewGuid().ToString("N");
        string Marker(int i) => $"\u0002maas-{nonce}-{i}\u0003";
        var rendered = engine.FormatChat(messages.Select((m, i) => m with { Content = Marker(i) }).ToList());

        // Where each message's marker landed, in the order the template wrote them (a template may reorder or drop).
        var found = new List<(int Index, int Position)>();
        for (var i = 0; i < messages.Count; i++)
        {
            var marker = Marker(i);
            for (var at = rendered.IndexOf(marker, StringComparison.Ordinal); at >= 0; at = rendered.IndexOf(marker, at + marker.Length, StringComparison.Ordinal))
            {
                found.Add((i, at));
            }
        }

        found.Sort((a, b) => a.Position.CompareTo(b.Position));
        var tokens = new List<int>();
        var position = 0;
        foreach (var (index, at) in found)
        {
            tokens.AddRange(engine.Tokenize(rendered[position..at], addSpecial: position == 0, parseSpecial: true));
            tokens.AddRange(engine.Tokenize(messages[index].Content, addSpecial: false, parseSpecial: false));
            position = at + Marker(index).Length;
        }

        tokens.AddRange(engine.Tokenize(rendered[position..], addSpecial: position == 0, parseSpecial: true));
        return tokens;
    }

    private static bool SpellsSpecialTokens(ILlmEngine engine, string content) =>
        content.Length > 0 && !engine.Tokenize(content, addSpecial: false, parseSpecial: true).SequenceEqual(engine.Tokenize(content, addSpecial: false, parseSpecial: false));
}
