namespace Maas.Core.Llm;

/// <summary>The text of a vocabulary's tokens, as the tokenizer renders them.</summary>
public interface ITokenPieces
{
    /// <summary>The UTF-8 bytes the token stands for (special tokens as their text); may be part of a character.</summary>
    ReadOnlySpan<byte> Piece(int token);

    /// <summary>
    /// True for a token that only matches itself: a special (control) token, which text spelling the same characters
    /// must never stand in for (a caller could forge turns), or one that renders as no text.
    /// </summary>
    bool IsAtomic(int token);
}

/// <summary>
/// How much of a prompt's text a cached token sequence already holds: the first <paramref name="CachedTokens"/> cached
/// tokens spell the same <paramref name="Bytes"/> bytes as the first <paramref name="PromptTokens"/> prompt tokens.
/// </summary>
public readonly record struct TextPrefixMatch(int CachedTokens, int PromptTokens, int Bytes);

/// <summary>
/// Reuse by text: a chat client resends the model's answer as text, and the text re-tokenizes differently from the
/// tokens the model generated (a random or small model especially picks tokens the tokenizer would merge), so a token
/// prefix match stops at the start of the answer. Matching the rendered text instead finds the longest prefix both
/// token sequences spell at a boundary of both; the cached tokens up to it, then the prompt's own tokens from it, are a
/// sequence for the same text whose head is already computed.
/// </summary>
/// <remarks>
/// Byte-wise on UTF-8, so a piece holding part of a multi-byte character matches whatever pieces spell the same bytes.
/// The prompt's tokens after the boundary are its tokenizer's own for the whole text (a continuation: no SentencePiece
/// leading space or BOS rule applies mid-text), so nothing is tokenized again. Pure; no engine needed.
/// </remarks>
public static class PromptTextMatcher
{
    /// <summary>The longest text prefix of <paramref name="prompt"/> that <paramref name="cached"/> spells, ending at a token boundary of both.</summary>
    public static TextPrefixMatch Match(ReadOnlySpan<int> cached, ReadOnlySpan<int> prompt, ITokenPieces pieces)
    {
        ArgumentNullException.ThrowIfNull(pieces);
        var best = new TextPrefixMatch(0, 0, 0);
        int i = 0, k = 0, bytes = 0;
        int inCached = 0, inPrompt = 0; // bytes already matched of cached[i] and of prompt[k]
        while (true)
        {
            if (inCached == 0 && inPrompt == 0)
            {
                best = new TextPrefixMatch(i, k, bytes);
                if (i == cached.Length || k == prompt.Length)
                {
                    return best;
                }

                // Same token at a shared boundary: same text (the common case, and the only way past an atomic token).
                if (cached[i] == prompt[k])
                {
                    bytes += pieces.Piece(cached[i]).Length;
                    i++;
                    k++;
                    continue;
                }

                if (pieces.IsAtomic(cached[i]) || pieces.IsAtomic(prompt[k]))
                {
                    return best;
                }
            }
            else if (i == cached.Length || k == prompt.Length || (inCached == 0 && pieces.IsAtomic(cached[i])) || (inPrompt == 0 && pieces.IsAtomic(prompt[k])))
            {
                // One side ends, or reaches a special token, inside a token of the other: no boundary beyond the last.
                return best;
            }

            var a = pieces.Piece(cached[i])[inCached..];
            var b = pieces.Piece(prompt[k])[inPrompt..];
            var n = Math.Min(a.Length, b.Length);
            if (!a[..n].SequenceEqual(b[..n]))
            {
                return best;
            }

            bytes += n;
            inCached += n;
            inPrompt += n;
            if (n == a.Length)
            {
                i++;
                inCached = 0;
            }

            if (n == b.Length)
            {
                k++;
                inPrompt = 0;
            }
        }
    }

    /// <summary>The bytes the first <paramref name="count"/> tokens of <paramref name="tokens"/> spell.</summary>
    public static int TextLength(ReadOnlySpan<int> tokens, int count, ITokenPieces pieces)
    {
        ArgumentNullException.ThrowIfNull(pieces);
        var bytes = 0;
        foreach (var token in tokens[..count])
        {
            bytes += pieces.Piece(token).Length;
        }

        return bytes;
    }

    /// <summary>The prompt as the cached tokens of <paramref name="match"/> followed by the prompt's own from its boundary.</summary>
    public static int[] Splice(ReadOnlySpan<int> cached, ReadOnlySpan<int> prompt, TextPrefixMatch match)
    {
        var spliced = new int[match.CachedTokens + prompt.Length - match.PromptTokens];
        cached[..match.CachedTokens].CopyTo(spliced);
        prompt[match.PromptTokens..].CopyTo(spliced.AsSpan(match.CachedTokens));
        return spliced;
    }
}
