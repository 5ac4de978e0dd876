using System.Buffers;
using System.Text;

namespace Maas.Runtimes.Llama;

/// <summary>The vocabulary of a model: text to tokens and back, special tokens, token attributes. Thread-safe.</summary>
public sealed class LlamaTokenizer
{
    private readonly LlamaModel model;
    private readonly (int Bos, int Eos, int Eot, int Sep, int Nl, int Pad) special;

    internal LlamaTokenizer(LlamaModel model)
    {
        this.model = model;
        var handle = model.Handle;
        Count = handle.VocabSize();
        Type = handle.VocabType();
        special = handle.SpecialTokens();
        (AddsBos, AddsEos) = handle.AddsSpecialTokens();
    }

    /// <summary>Number of tokens.</summary>
    public int Count { get; }

    /// <summary>The tokenizer family (SentencePiece, BPE, ...).</summary>
    public LlamaVocabularyType Type { get; }

    /// <summary>Beginning-of-sequence token, or null.</summary>
    public int? Bos => OrNull(special.Bos);

    /// <summary>End-of-sequence token, or null.</summary>
    public int? Eos => OrNull(special.Eos);

    /// <summary>End-of-turn token, or null.</summary>
    public int? Eot => OrNull(special.Eot);

    /// <summary>Separator token, or null.</summary>
    public int? Separator => OrNull(special.Sep);

    /// <summary>Newline token, or null.</summary>
    public int? Newline => OrNull(special.Nl);

    /// <summary>Padding token, or null.</summary>
    public int? Padding => OrNull(special.Pad);

    /// <summary>Whether tokenizing with special tokens prepends <see cref="Bos"/>.</summary>
    public bool AddsBos { get; }

    /// <summary>Whether tokenizing with special tokens appends <see cref="Eos"/>.</summary>
    public bool AddsEos { get; }

    /// <summary>Tokenizes <paramref name="text"/>.</summary>
    /// <param name="text">Any text; it is passed as UTF-8.</param>
    /// <param name="addSpecial">Add BOS/EOS as the model is configured to.</param>
    /// <param name="parseSpecial">Turn special-token text (e.g. "&lt;|im_start|&gt;") into the special tokens instead of plain text.</param>
    public int[] Tokenize(string text, bool addSpecial = true, bool parseSpecial = false)
    {
        ArgumentNullException.ThrowIfNull(text);
        var byteCount = Encoding.UTF8.GetByteCount(text);
        var utf8 = ArrayPool<byte>.Shared.Rent(Math.Max(byteCount, 1));
        try
        {
            Encoding.UTF8.GetBytes(text, utf8);
            return Tokenize(utf8.AsSpan(0, byteCount), addSpecial, parseSpecial);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(utf8);
        }
    }

    /// <summary>Tokenizes UTF-8 text.</summary>
    public int[] Tokenize(ReadOnlySpan<byte> utf8, bool addSpecial = true, bool parseSpecial = false)
    {
        // Text runs at several bytes per token, so the first try gets a pooled buffer of half a token per byte (plus room
        // for BOS/EOS) rather than one per byte: a 1 MB prompt no longer takes 4 MB of scratch. Text that needs more
        // (llama_tokenize then answers the count, negated) is tokenized again into a buffer of exactly that size.
        var rented = ArrayPool<int>.Shared.Rent(FirstTryTokens(utf8.Length));
        try
        {
            var n = model.Handle.Tokenize(utf8, rented, addSpecial, parseSpecial);
            if (n == int.MinValue)
            {
                throw new LlamaException($"llama_tokenize overflowed on {utf8.Length} bytes of text");
            }

            if (n >= 0)
            {
                return rented.AsSpan(0, n).ToArray();
            }

            var tokens = new int[-n];
            n = model.Handle.Tokenize(utf8, tokens, addSpecial, parseSpecial);
            if (n != tokens.Length)
            {
                throw new LlamaException($"llama_tokenize failed on {utf8.Length} bytes of text (status {n})");
            }

            return tokens;
        }
        finally
        {
            ArrayPool<int>.Shared.Return(rented);
        }
    }

    /// <summary>The size of the first tokenizing try's buffer for <paramref name="bytes"/> of text.</summary>
    internal static int FirstTryTokens(int bytes) => (bytes / 2) + 8;

    /// <summary>Turns tokens back into text.</summary>
    /// <param name="tokens">Token ids of this vocabulary.</param>
    /// <param name="removeSpecial">Drop a leading BOS / trailing EOS (and the leading space SentencePiece adds) as the model configures.</param>
    /// <param name="unparseSpecial">Render special tokens as their text instead of dropping them.</param>
    public string Detokenize(ReadOnlySpan<int> tokens, bool removeSpecial = false, bool unparseSpecial = false)
    {
        CheckTokens(tokens);

        // llama_detokenize keeps SentencePiece's prefix space when it drops a leading BOS itself; dropping the BOS here
        // first makes Detokenize(Tokenize(text), removeSpecial: true) give back exactly the text.
        if (removeSpecial && AddsBos && !tokens.IsEmpty && tokens[0] == special.Bos)
        {
            tokens = tokens[1..];
        }

        var buffer = new byte[Math.Max(64, tokens.Length * 8)];
        var n = model.Handle.Detokenize(tokens, buffer, removeSpecial, unparseSpecial);
        if (n < 0)
        {
            buffer = new byte[-n];
            n = model.Handle.Detokenize(tokens, buffer, removeSpecial, unparseSpecial);
            if (n < 0)
            {
                throw new LlamaException($"llama_detokenize failed on {tokens.Length} tokens (status {n})");
            }
        }

        return Encoding.UTF8.GetString(buffer, 0, n);
    }

    /// <summary>The bytes one token stands for; may be part of a multi-byte UTF-8 character.</summary>
    /// <param name="token">A token id.</param>
    /// <param name="special">Render special tokens as their text (otherwise they give no bytes).</param>
    public byte[] GetPieceBytes(int token, bool special = false)
    {
        Span<byte> small = stackalloc byte[64];
        var n = GetPieceBytes(token, small, special);
        if (n >= 0)
        {
            return small[..n].ToArray();
        }

        var large = new byte[-n];
        n = GetPieceBytes(token, large, special);
        return n < 0 ? throw new LlamaException($"llama_token_to_piece failed for token {token} (status {n})") : large[..n];
    }

    /// <summary>Writes one token's bytes into <paramref name="destination"/>; returns the count, or minus the size needed.</summary>
    public int GetPieceBytes(int token, Span<byte> destination, bool special = false)
    {
        CheckToken(token);
        return model.Handle.TokenToPiece(token, destination, 0, special);
    }

    /// <summary>The vocabulary entry text of a token (in the tokenizer's own alphabet, e.g. "▁the" or "Ġthe").</summary>
    public string GetText(int token)
    {
        CheckToken(token);
        return model.Handle.TokenText(token) ?? string.Empty;
    }

    /// <summary>The token's score (SentencePiece merge priority).</summary>
    public float GetScore(int token)
    {
        CheckToken(token);
        return model.Handle.TokenScore(token);
    }

    /// <summary>The token's attributes (control, byte, user-defined, ...).</summary>
    public LlamaTokenAttributes GetAttributes(int token)
    {
        CheckToken(token);
        return model.Handle.TokenAttributes(token);
    }

    /// <summary>True for tokens that end generation (EOS, EOT, end-of-turn markers).</summary>
    public bool IsEndOfGeneration(int token) => IsValid(token) && model.Handle.IsEndOfGeneration(token);

    /// <summary>True for control tokens (not rendered as text).</summary>
    public bool IsControl(int token) => IsValid(token) && model.Handle.IsControl(token);

    /// <summary>A detokenizer for a stream of generated tokens that never splits a UTF-8 character.</summary>
    public StreamingDetokenizer CreateStreamingDetokenizer(bool renderSpecial = false) => new(this, renderSpecial);

    /// <summary>True when <paramref name="token"/> is an id of this vocabulary.</summary>
    public bool IsValid(int token) => (uint)token < (uint)Count;

    internal void CheckToken(int token)
    {
        if (!IsValid(token))
        {
            // llama.cpp indexes its tables without a check: an out-of-range id would crash the process.
            throw new ArgumentOutOfRangeException(nameof(token), token, $"token ids of this model are 0 to {Count - 1}");
        }
    }

    internal void CheckTokens(ReadOnlySpan<int> tokens)
    {
        foreach (var t in tokens)
        {
            CheckToken(t);
        }
    }

    private static int? OrNull(int token) => token < 0 ? null : token;
}
