using Maas.Core.Llm;

namespace Maas.Runtimes.Llama.Serving;

/// <summary>
/// Each token's text as the model's tokenizer renders it (special tokens as their text), read once per token id and
/// kept: the per-token byte lengths reuse by text walks come from here rather than from a copy kept with every slot.
/// </summary>
/// <remarks>Runs on the engine loop thread only.</remarks>
internal sealed class LlamaTokenPieces(LlamaTokenizer tokenizer) : ITokenPieces
{
    private const LlamaTokenAttributes Special = LlamaTokenAttributes.Control | LlamaTokenAttributes.UserDefined | LlamaTokenAttributes.Unknown;

    private readonly byte[]?[] _pieces = new byte[]?[tokenizer.Count];
    private readonly bool[] _atomic = new bool[tokenizer.Count];

    public ReadOnlySpan<byte> Piece(int token) => Load(token);

    public bool IsAtomic(int token)
    {
        Load(token);
        return _atomic[token];
    }

    private byte[] Load(int token)
    {
        if (_pieces[token] is { } piece)
        {
            return piece;
        }

        piece = tokenizer.GetPieceBytes(token, special: true);
        _atomic[token] = piece.Length == 0 || (tokenizer.GetAttributes(token) & Special) != 0;
        return _pieces[token] = piece;
    }
}
