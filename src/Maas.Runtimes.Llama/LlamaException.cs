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
