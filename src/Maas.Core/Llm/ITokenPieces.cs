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
