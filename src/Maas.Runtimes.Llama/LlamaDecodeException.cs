namespace Maas.Runtimes.Llama;

/// <summary>llama_decode or llama_encode returned a non-zero status.</summary>
public sealed class LlamaDecodeException : LlamaException
{
    /// <summary>Creates the exception for <paramref name="status"/>.</summary>
    public LlamaDecodeException(string message, int status, string nativeLog)
        : base(message, nativeLog)
    {
        Status = status;
    }

    /// <summary>The status llama.cpp returned (1: no KV slot, 2: aborted, -1: invalid batch, below -1: fatal).</summary>
    public int Status { get; }
}
