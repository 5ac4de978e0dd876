namespace Maas.Core.Llm;

/// <summary>
/// Reuse by text: a chat client resends the model's answer as text, and the text re-tokenizes differently from the
/// tokens the model generated (a random or small model especially picks tokens the tokenizer would merge), so a token
/// prefix match stops at the start of the answer. Matching the rendered text instead finds the longest prefix both
/// token sequences spell at a boundary of both; the cached tokens up to it, then the prompt's own tokens from it, are a
/// sequence for the same text whose head is already computed.
/// </summary>
/// <remarks>
/// Byte-wise on UTF-8, so a piece holding part of a multi-byte character matches whatever pieces spell the same bytes.
/// The cached side is read as text the way it was streamed to the client: bytes that never form a character (a lead
/// byte the model did not complete, a stray continuation byte) are not text and were never sent, so they spell nothing
/// and the match goes on past them; the spliced sequence then keeps those tokens, which the model generated there.
/// The prompt's tokens after the boundary are its tokenizer's own for the whole text (a continuation: no SentencePiece
/// leading space or BOS rule applies mid-text), so nothing is tokenized again. Pure; no engine needed.
/// </remarks>
public static class PromptTextMatcher
{
    /// <summary>The longest text prefix of <paramref name="prompt"/> that <paramref name="cached"/> spells, ending at a token boundary of both.</summary>
    public static TextPrefixMatch Match(ReadOnlySpan<int> cached, ReadOnlySpan<int> prompt, ITokenPieces pieces)
    {
        ArgumentNullException.ThrowIfNull(pieces);
        var text = new CachedText(cached, pieces);
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

                // A cached token whose bytes the client never got (see CachedText) goes along with the text before it.
                if (!pieces.IsAtomic(cached[i]) && text.Piece(i).IsEmpty)
                {
                    i++;
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

            var a = text.Piece(i)[inCached..];
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

    /// <summary>
    /// The cached tokens' text as a client got it (see the remarks of <see cref="PromptTextMatcher"/>): valid UTF-8
    /// passes as it is, and the bytes a UTF-8 decoder would drop (each maximal invalid subsequence, and an unfinished
    /// character where the text ends or a special token comes) spell nothing. Worked out token by token as the match
    /// asks, so a match that ends early never reads the rest.
    /// </summary>
    private ref struct CachedText(ReadOnlySpan<int> tokens, ITokenPieces pieces)
    {
        private readonly ReadOnlySpan<int> _tokens = tokens;
        private readonly ITokenPieces _pieces = pieces;

        // Bytes at the start of the next token that belong to a character begun before it: kept (valid) or dropped.
        private int _carry;
        private bool _carryKept;
        private int _next; // the next token Piece will be asked for (asked in order, each once or again)
        private int _last = -1;
        private bool _plain; // the last token rendered is its piece as it is
        private byte[] _buffer = [];
        private int _length;

        public ReadOnlySpan<byte> Piece(int index)
        {
            if (index == _last)
            {
                return _plain ? _pieces.Piece(_tokens[index]) : _buffer.AsSpan(0, _length);
            }

            // Tokens the match passed by id (same token on both sides) still move the decoder's state along.
            while (_next < index)
            {
                Render(_next++);
            }

            _last = index;
            _next = index + 1;
            return Render(index);
        }

        private ReadOnlySpan<byte> Render(int index)
        {
            var piece = _pieces.Piece(_tokens[index]);
            if (_pieces.IsAtomic(_tokens[index]))
            {
                _carry = 0;
                _plain = true;
                return piece;
            }

            // The common case, plain ASCII and no character running over from before: the piece itself.
            var start = Math.Min(_carry, piece.Length);
            var plain = !piece[start..].ContainsAnyInRange((byte)0x80, (byte)0xFF);
            if (plain && (start == 0 || _carryKept))
            {
                _carry -= start;
                _plain = true;
                return piece;
            }

            _plain = false;
            if (_buffer.Length < piece.Length)
            {
                _buffer = new byte[Math.Max(16, piece.Length)];
            }

            _length = 0;
            var at = 0;
            for (; at < start; at++)
            {
                if (_carryKept)
                {
                    _buffer[_length++] = piece[at];
                }
            }

            _carry -= start;
            while (at < piece.Length)
            {
                var b = piece[at];
                if (b < 0x80)
                {
                    _buffer[_length++] = b;
                    at++;
                    continue;
                }

                // A character from here: how many bytes it takes, whether they are all there, valid.
                var (length, valid) = Character(index, at);
                var here = Math.Min(length, piece.Length - at);
                if (valid)
                {
                    piece.Slice(at, here).CopyTo(_buffer.AsSpan(_length));
                    _length += here;
                }

                at += here;
                _carry = length - here;
                _carryKept = valid;
            }

            return _buffer.AsSpan(0, _length);
        }

        // The character starting at byte `at` of token `index`: its byte length (the maximal subpart when invalid) and
        // whether it decodes; the bytes after it may lie in the next tokens, up to a special token or the end.
        private readonly (int Length, bool Valid) Character(int index, int at)
        {
            var lead = Byte(index, at, 0);
            var (need, low, high) = lead switch
            {
                >= 0xC2 and <= 0xDF => (2, 0x80, 0xBF),
                0xE0 => (3, 0xA0, 0xBF),
                >= 0xE1 and <= 0xEC or 0xEE or 0xEF => (3, 0x80, 0xBF),
                0xED => (3, 0x80, 0x9F),
                0xF0 => (4, 0x90, 0xBF),
                >= 0xF1 and <= 0xF3 => (4, 0x80, 0xBF),
                0xF4 => (4, 0x80, 0x8F),
                _ => (1, 0, 0), // a stray continuation byte, C0, C1 or F5 and above: never valid
            };
            if (need == 1)
            {
                return (1, false);
            }

            for (var k = 1; k < need; k++)
            {
                var next = Byte(index, at, k);
                if (next < 0 || next < (k == 1 ? low : 0x80) || next > (k == 1 ? high : 0xBF))
                {
                    return (k, false);
                }
            }

            return (need, true);
        }

        // The k-th byte after byte `at` of token `index`, across the following tokens; -1 past the end or at a special token.
        private readonly int Byte(int index, int at, int k)
        {
            var piece = _pieces.Piece(_tokens[index]);
            var offset = at + k;
            while (offset >= piece.Length)
            {
                offset -= piece.Length;
                if (++index >= _tokens.Length || _pieces.IsAtomic(_tokens[index]))
                {
                    return -1;
                }

                piece = _pieces.Piece(_tokens[index]);
            }

            return piece[offset];
        }
    }
}
