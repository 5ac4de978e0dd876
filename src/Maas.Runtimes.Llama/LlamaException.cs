namespace Maas.Runtimes.Llama;

/// <summary>A llama.cpp call failed; the message says which call, with which arguments, and what llama.cpp logged.</summary>
public class LlamaException : Exception
{
    /// <summary>Creates the exception with a complete message.</summary>
    public LlamaException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and the native log lines that explain it.</summary>
    public LlamaException(string message, string nativeLog)
        : base(string.IsNullOrEmpty(nativeLog) ? message : $"{message}. llama.cpp said: {nativeLog}")
    {
        NativeLog = nativeLog;
    }

    /// <summary>The error lines llama.cpp logged during the failed call (may be empty).</summary>
    public string NativeLog { get; } = string.Empty;
}

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
