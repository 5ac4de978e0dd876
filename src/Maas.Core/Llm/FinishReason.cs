namespace Maas.Core.Llm;

/// <summary>Why a generation ended.</summary>
public enum FinishReason
{
    /// <summary>The model produced its end token or a stop string (OpenAI "stop").</summary>
    Stop,

    /// <summary>max_tokens or the context ran out (OpenAI "length").</summary>
    Length,
}
