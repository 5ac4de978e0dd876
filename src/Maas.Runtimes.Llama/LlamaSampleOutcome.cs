namespace Maas.Runtimes.Llama;

/// <summary>What one sampling step of a <see cref="LlamaSequenceSampler"/> came to.</summary>
public enum LlamaSampleOutcome
{
    /// <summary>A token was picked and accepted.</summary>
    Token,

    /// <summary>The grammar is complete: it allows nothing but the end of generation.</summary>
    GrammarComplete,

    /// <summary>The grammar allows tokens, but the chain (a logit bias of -infinity) banned every one of them.</summary>
    AllowedTokensBanned,

    /// <summary>The grammar allows no token of the vocabulary at this point.</summary>
    GrammarDeadEnd,
}
