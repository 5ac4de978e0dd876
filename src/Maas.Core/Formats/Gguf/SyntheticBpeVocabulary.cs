namespace Maas.Core.Formats.Gguf;

/// <summary>A made-up byte-level BPE vocabulary (GPT-2 style) of any size from 259 tokens up, for generated test models.</summary>
/// <remarks>
/// Every byte has a token, so any text tokenizes and detokenizes losslessly; merges build lower-case letter runs
/// ("Ġt", "th", "the", ...) level by level until the vocabulary is full. Ids 0..2 are the control tokens
/// &lt;|endoftext|&gt;, &lt;|im_start|&gt; and &lt;|im_end|&gt; so a ChatML template works.
/// </remarks>
public sealed class SyntheticBpeVocabulary
{
    /// <summary>Fewest tokens possible: three control tokens and 256 byte tokens.</summary>
    public const int MinimumSize = 3 + 256;

    /// <summary>Id of &lt;|endoftext|&gt; (beginning of text and padding).</summary>
    public const int EndOfTextId = 0;

    /// <summary>Id of &lt;|im_start|&gt;.</summary>
    public const int ImStartId = 1;

    /// <summary>Id of &lt;|im_end|&gt; (end of turn: generation stops here).</summary>
    public const int ImEndId = 2;

    // llama_token_type values.
    private const int Normal = 1;
    private const int Control = 3;

    private const string Letters = "etaoinshrdlcumwfgypbvkjxqz";

    private SyntheticBpeVocabulary(string[] tokens, int[] tokenTypes, string[] merges)
    {
        Tokens = tokens;
        TokenTypes = tokenTypes;
        Merges = merges;
    }

    /// <summary>Token texts by id (byte-level: space is "Ġ", newline "Ċ").</summary>
    public string[] Tokens { get; }

    /// <summary>llama_token_type per id (1 normal, 3 control).</summary>
    public int[] TokenTypes { get; }

    /// <summary>Merge rules "left right", by rank.</summary>
    public string[] Merges { get; }

    /// <summary>Builds a vocabulary of exactly <paramref name="size"/> tokens.</summary>
    public static SyntheticBpeVocabulary Create(int size)
    {
        if (size < MinimumSize)
        {
            throw new ArgumentOutOfRangeException(nameof(size), size, $"a byte-level vocabulary needs at least {MinimumSize} tokens");
        }

        var tokens = new List<string>(size) { "<|endoftext|>", "<|im_start|>", "<|im_end|>" };
        var types = new List<int>(size) { Control, Control, Control };
        var byteChars = ByteToUnicode();
        for (var b = 0; b < 256; b++)
        {
            tokens.Add(byteChars[b].ToString());
            types.Add(Normal);
        }

        var merges = new List<string>(Math.Max(0, size - MinimumSize));
        List<string> previous = ["\u0120", .. Letters.Select(c => c.ToString())];
        while (tokens.Count < size)
        {
            var level = new List<string>();
            foreach (var left in previous)
            {
                foreach (var letter in Letters)
                {
                    if (tokens.Count == size)
                    {
                        break;
                    }

                    merges.Add($"{left} {letter}");
                    tokens.Add(left + letter);
                    types.Add(Normal);
                    level.Add(left + letter);
                }
            }

            previous = level;
        }

        return new SyntheticBpeVocabulary([.. tokens], [.. types], [.. merges]);
    }

    // GPT-2's reversible byte to printable-character map: printable Latin-1 bytes stand for themselves,
    // the rest are shifted above U+0100 in byte order.
    private static char[] ByteToUnicode()
    {
        var map = new char[256];
        var shifted = 0;
        for (var b = 0; b < 256; b++)
        {
            var printable = b is >= '!' and <= '~' or >= 0xA1 and <= 0xAC or >= 0xAE and <= 0xFF;
            map[b] = printable ? (char)b : (char)(256 + shifted++);
        }

        return map;
    }
}
