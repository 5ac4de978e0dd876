using System.Text;

namespace Maas.Runtimes.Llama;

/// <summary>Turns generated tokens into text as they arrive, holding back the bytes of a UTF-8 character split across tokens.</summary>
/// <remarks>
/// Byte-level vocabularies (and SentencePiece's byte fallback, &lt;0xF0&gt;&lt;0x9F&gt;...) emit an emoji or a CJK
/// character as several tokens; decoding each piece alone would yield replacement characters. An incomplete trailing
/// sequence waits for the rest. Bytes that never become a character (a lead byte the model did not complete, a stray
/// continuation byte, the tail of a stream that ended mid-character) are dropped rather than sent as U+FFFD: they are
/// not text, and a client must never see a character the model did not produce. Logprobs keep every token's raw bytes.
/// Not thread-safe.
/// </remarks>
public sealed class StreamingDetokenizer
{
    // Decodes valid UTF-8 and drops invalid bytes instead of replacing them with U+FFFD.
    private static readonly Encoding Utf8DroppingInvalid =
        Encoding.GetEncoding("utf-8", EncoderFallback.ReplacementFallback, new DecoderReplacementFallback(string.Empty));

    private readonly LlamaTokenizer tokenizer;
    private readonly bool renderSpecial;
    private readonly byte[] piece = new byte[256];
    private readonly byte[] held = new byte[4];
    private int heldCount;

    internal StreamingDetokenizer(LlamaTokenizer tokenizer, bool renderSpecial)
    {
        this.tokenizer = tokenizer;
        this.renderSpecial = renderSpecial;
    }

    /// <summary>True while bytes of an unfinished character are held back.</summary>
    public bool HasPendingBytes => heldCount > 0;

    /// <summary>Adds a token; returns the text that is now complete (possibly empty).</summary>
    public string Append(int token)
    {
        var n = tokenizer.GetPieceBytes(token, piece, renderSpecial);
        return Append(n >= 0 ? piece.AsSpan(0, n) : tokenizer.GetPieceBytes(token, renderSpecial));
    }

    /// <summary>Ends the stream and resets; the held-back bytes of an unfinished character are dropped, so this returns no text.</summary>
    public string Flush()
    {
        heldCount = 0;
        return string.Empty;
    }

    private string Append(ReadOnlySpan<byte> bytes)
    {
        if (bytes.IsEmpty)
        {
            return string.Empty;
        }

        var all = heldCount == 0 ? bytes : Concat(bytes);
        var complete = CompleteLength(all);
        var text = Utf8DroppingInvalid.GetString(all[..complete]);
        all[complete..].CopyTo(held);
        heldCount = all.Length - complete;
        return text;
    }

    private byte[] Concat(ReadOnlySpan<byte> bytes)
    {
        var all = new byte[heldCount + bytes.Length];
        held.AsSpan(0, heldCount).CopyTo(all);
        bytes.CopyTo(all.AsSpan(heldCount));
        return all;
    }

    // Length of the prefix that ends on a character boundary: a lead byte in the last three bytes whose
    // sequence is longer than what follows it starts an incomplete character.
    private static int CompleteLength(ReadOnlySpan<byte> bytes)
    {
        for (var back = 1; back <= Math.Min(3, bytes.Length); back++)
        {
            var b = bytes[^back];
            if ((b & 0xC0) == 0x80)
            {
                continue; // continuation byte: keep looking for its lead
            }

            var length = b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : b >= 0xC0 ? 2 : 1;
            return length > back && b < 0xF8 ? bytes.Length - back : bytes.Length;
        }

        return bytes.Length;
    }
}
