namespace Maas.Core.Llm;

/// <summary>
/// Prompts' KV saved in host memory when their slot had to be overwritten: opaque engine state per token sequence,
/// found by longest shared prefix, kept within a byte budget with the least recently used dropped first.
/// </summary>
/// <remarks>Not thread-safe: the engine loop that owns the KV cache owns this too.</remarks>
public sealed class HostPromptCache
{
    private readonly PrefixCacheIndex _index = new();
    private readonly Dictionary<int, byte[]> _states = [];
    private int _nextId;

    /// <summary>A cache holding at most <paramref name="budgetBytes"/> bytes of state (0: keeps nothing).</summary>
    public HostPromptCache(long budgetBytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(budgetBytes);
        BudgetBytes = budgetBytes;
    }

    /// <summary>The most bytes of state the cache holds.</summary>
    public long BudgetBytes { get; }

    /// <summary>Bytes of state held now.</summary>
    public long Bytes { get; private set; }

    /// <summary>Prompts held now.</summary>
    public int Count => _states.Count;

    /// <summary>Prompts dropped to stay within the budget, since the cache was made.</summary>
    public long Evictions { get; private set; }

    /// <summary>The tokens an entry holds (empty for an unknown entry).</summary>
    public IReadOnlyList<int> TokensOf(int entryId) => _index.TokensOf(entryId);

    /// <summary>The entry sharing the longest prefix with <paramref name="prompt"/>, or null.</summary>
    public PrefixMatch? FindLongest(IReadOnlyList<int> prompt) => _index.FindLongest(prompt);

    /// <summary>
    /// Whether saving <paramref name="tokens"/> is worth it: it fits the budget and no entry already holds them all.
    /// </summary>
    public bool Wants(IReadOnlyList<int> tokens, long bytes) =>
        bytes > 0 && bytes <= BudgetBytes && tokens.Count > 0 && _index.FindLongest(tokens)?.Length != tokens.Count;

    /// <summary>
    /// Saves the state of <paramref name="tokens"/>; entries it makes redundant (their tokens begin it) go, then the
    /// least recently used until it fits. False (and nothing changes) when it is not <see cref="Wants">wanted</see>.
    /// </summary>
    public bool Add(IReadOnlyList<int> tokens, byte[] state)
    {
        ArgumentNullException.ThrowIfNull(tokens);
        ArgumentNullException.ThrowIfNull(state);
        if (!Wants(tokens, state.Length))
        {
            if (_index.FindLongest(tokens) is { } held && held.Length == tokens.Count)
            {
                _index.Touch(held.EntryId);
            }

            return false;
        }

        foreach (var id in _states.Keys.ToArray())
        {
            var held = _index.TokensOf(id);
            if (held.Count <= tokens.Count && IsPrefix(held, tokens))
            {
                Drop(id);
            }
        }

        while (Bytes + state.Length > BudgetBytes && _index.LeastRecentlyUsed(_ => true) is { } oldest)
        {
            Drop(oldest);
            Evictions++;
        }

        var entry = _nextId++;
        _index.Append(entry, tokens is int[] array ? array : [.. tokens]);
        _states[entry] = state;
        Bytes += state.Length;
        return true;
    }

    /// <summary>Removes an entry and hands back its tokens and state (to restore into a slot, which then holds them).</summary>
    public (int[] Tokens, byte[] State) Take(int entryId)
    {
        if (!_states.TryGetValue(entryId, out var state))
        {
            throw new KeyNotFoundException($"no host cache entry {entryId}");
        }

        int[] tokens = [.. _index.TokensOf(entryId)];
        Drop(entryId);
        return (tokens, state);
    }

    /// <summary>Drops everything.</summary>
    public void Clear()
    {
        foreach (var id in _states.Keys.ToArray())
        {
            Drop(id);
        }
    }

    private void Drop(int entryId)
    {
        Bytes -= _states[entryId].Length;
        _states.Remove(entryId);
        _index.Remove(entryId);
    }

    private static bool IsPrefix(IReadOnlyList<int> prefix, IReadOnlyList<int> tokens)
    {
        for (var i = 0; i < prefix.Count; i++)
        {
            if (prefix[i] != tokens[i])
            {
                return false;
            }
        }

        return true;
    }
}
