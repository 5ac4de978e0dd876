namespace Maas.Core.Llm;

/// <summary>A server-wide cap on the tokens (prompt plus max completion) that all running LLM requests may reserve.</summary>
/// <remarks>Thread-safe. A limit of 0 means unlimited. A request that does not fit gets 429, like a full queue.</remarks>
public sealed class TokenBudget
{
    private long _reserved;

    /// <summary>Creates a budget of <paramref name="limit"/> tokens (0 = unlimited).</summary>
    public TokenBudget(long limit)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(limit);
        Limit = limit;
    }

    /// <summary>The cap, 0 when unlimited.</summary>
    public long Limit { get; }

    /// <summary>Tokens reserved now.</summary>
    public long Reserved => Interlocked.Read(ref _reserved);

    /// <summary>Reserves tokens for one request; dispose the result to give them back.</summary>
    /// <param name="tokens">The tokens to reserve now.</param>
    /// <param name="held">Tokens the same request reserved already (its other prompts): with them it may never fit.</param>
    /// <exception cref="LlmException">The budget cannot hold them now (queue full, 429), or ever (400).</exception>
    public IDisposable Reserve(long tokens, long held = 0)
    {
        if (Limit > 0 && held + tokens > Limit)
        {
            throw LlmException.Invalid(
                $"the request needs {held + tokens} tokens (prompt plus max_tokens) but the server allows at most {Limit} tokens in flight",
                "max_tokens",
                "token_limit_exceeded");
        }

        while (true)
        {
            var current = Interlocked.Read(ref _reserved);
            if (Limit > 0 && current + tokens > Limit)
            {
                throw new LlmException(
                    LlmErrorKind.QueueFull,
                    $"the server's token budget is in use ({current} of {Limit} tokens reserved by running requests); retry later",
                    code: "token_budget_exceeded")
                {
                    RetryAfter = TimeSpan.FromSeconds(1),
                };
            }

            if (Interlocked.CompareExchange(ref _reserved, current + tokens, current) == current)
            {
                return new Reservation(this, tokens);
            }
        }
    }

    private sealed class Reservation(TokenBudget budget, long tokens) : IDisposable
    {
        private int _released;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _released, 1) == 0)
            {
                Interlocked.Add(ref budget._reserved, -tokens);
            }
        }
    }
}
