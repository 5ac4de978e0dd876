namespace Maas.Core.Llm;

/// <summary>How the next token is chosen: temperature, truncation, penalties, bias and seed.</summary>
/// <remarks>
/// Defaults follow the OpenAI API (temperature 1, top_p 1, no penalties) with llama.cpp's extra knobs off, so a
/// request that names nothing samples from the model's plain distribution. Temperature 0 means greedy.
/// </remarks>
public sealed record SamplingOptions
{
    /// <summary>Softmax temperature; 0 picks the most likely token.</summary>
    public float Temperature { get; init; } = 1f;

    /// <summary>Keep only the k most likely tokens; 0 turns it off.</summary>
    public int TopK { get; init; }

    /// <summary>Nucleus sampling: keep the smallest set with this much probability; 1 turns it off.</summary>
    public float TopP { get; init; } = 1f;

    /// <summary>Drop tokens less likely than this fraction of the best one; 0 turns it off.</summary>
    public float MinP { get; init; }

    /// <summary>OpenAI presence penalty (-2..2): subtracted once from every token already generated.</summary>
    public float PresencePenalty { get; init; }

    /// <summary>OpenAI frequency penalty (-2..2): subtracted per occurrence of a token already generated.</summary>
    public float FrequencyPenalty { get; init; }

    /// <summary>llama.cpp repeat penalty (1 = off): divides the logits of recently seen tokens.</summary>
    public float RepeatPenalty { get; init; } = 1f;

    /// <summary>How many recent tokens the penalties look at.</summary>
    public int PenaltyLastN { get; init; } = 64;

    /// <summary>The random seed; null draws one per request.</summary>
    public uint? Seed { get; init; }

    /// <summary>Added to the logits of the given token ids (OpenAI's -100..100; -100 bans a token).</summary>
    public IReadOnlyDictionary<int, float> LogitBias { get; init; } = new Dictionary<int, float>();

    /// <summary>Keep generating past the end-of-generation token (its logit is banned).</summary>
    public bool IgnoreEos { get; init; }

    /// <summary>True when sampling always takes the most likely token.</summary>
    public bool IsGreedy => Temperature <= 0f;
}
