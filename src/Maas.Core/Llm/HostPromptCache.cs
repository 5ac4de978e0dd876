using System.Buffers;

namespace Maas.Core.Llm;

/// <summary>
/// Prompts' KV saved in host memory when their slot had to be overwritten: opaque engine state per token sequence,
/// found by longest shared prefix, kept within a byte budget with the least recently used dropped first.
/// </summary>
/// <remarks>Not thread-safe: the engine loop that owns the KV cache owns this too.</remarks>
public sealed class HostPromptCache
{
    /// <summary>A slot's prompt is saved only when overwriting it loses at least this many tokens.</summary>
    public const int SaveMinimum = 32;

    private readonly PrefixCacheIndex _index = new();
    private readonly Dictionary<int, SavedPrompt> _states = [];
    private readonly Action<IMemoryOwner<byte>>? _dropped;
    private int _nextId;

    /// <summary>A cache holding at most <paramref name="budgetBytes"/> bytes of state (0: keeps nothing).</summary>
    /// <param name="budgetBytes">The most bytes of state (and kept logits) held.</param>
    /// <param name="dropped">
    /// Gets the state buffer of an entry dropped (evicted, replaced, cleared), not of one taken; without it such a
    /// buffer is disposed of.
    /// </param>
    public HostPromptCache(long budgetBytes, Action<IMemoryOwner<byte>>? dropped = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(budgetBytes);
        BudgetBytes = budgetBytes;
        _dropped = dropped;
    }

    /// <summary>The most bytes of state the cache holds.</summary>
    public long BudgetBytes { get; }

    /// <summary>Bytes of state held now.</summary>
    public long Bytes { get; private set; }

    /// <summary>Prompts held now.</summary>
    public int Count => _states.Count;

    /// <summary>Prompts dropped to stay within the budget, since the cache was made.</summary>
    public long Evictions { get; private set; }

    /// <summary>The entries held now (to look them over, e.g. by text; not while adding or taking).</summary>
    public IEnumerable<int> EntryIds => _states.Keys;

    /// <summary>The tokens an entry holds (empty for an unknown entry).</summary>
    public IReadOnlyList<int> TokensOf(int entryId) => _index.TokensOf(entryId);

    /// <summary>The token sampled after an entry's tokens but not in its state (see <see cref="Add"/>), if any.</summary>
    public int? NextOf(int entryId) => _states.TryGetValue(entryId, out var saved) ? saved.Next : null;

    /// <summary>
    /// The entry sharing the longest prefix with <paramref name="prompt"/>, or null; <see cref="PrefixMatch.Complete"/>
    /// when it holds the whole prompt with the logits after it.
    /// </summary>
    public PrefixMatch? FindLongest(IReadOnlyList<int> prompt) =>
        _index.FindLongest(prompt) is { } match
            ? match with { Complete = match.Length == prompt.Count && _index.OutputAt(match.EntryId) == prompt.Count }
            : null;

    /// <summary>
    /// Whether a slot holding <paramref name="held"/> tokens, the first <paramref name="evaluated"/> of them the prompt it
    /// last evaluated (0 when unknown), should be saved before a new prompt keeps only its first <paramref name="kept"/>:
    /// when at least <see cref="SaveMinimum"/> tokens would be lost and either the new prompt parts from the slot's
    /// prompt before its end (another conversation, however long the preamble they share) or at least half of what the
    /// slot holds would be lost (llama-server's rule for a slot picked by similarity).
    /// </summary>
    /// <remarks>
    /// A new prompt that holds the slot's whole prompt (the same prompt again, or the conversation's next turn) loses
    /// only the old answer, which the slot's own next request never needs: not worth a copy of everything the slot
    /// holds in the new request's way. One that parts earlier is another request, and a conversation whose turns share
    /// a long system prompt with others loses less than half of its slot to it, yet its own turns are what its next
    /// turn needs: without the save it came back to nothing but the shared preamble.
    /// </remarks>
    public static bool WorthSaving(int held, int kept, int evaluated = 0)
    {
        var lost = held - Math.Clamp(kept, 0, held);
        return lost >= SaveMinimum && (kept < Math.Min(evaluated, held) || 2L * lost >= held);
    }

    /// <summary>
    /// Whether saving <paramref name="tokens"/> is worth it: it fits the budget and no entry already holds them all.
    /// </summary>
    public bool Wants(IReadOnlyList<int> tokens, long bytes) =>
        bytes > 0 && bytes <= BudgetBytes && tokens.Count > 0 && _index.FindLongest(tokens)?.Length != tokens.Count;

    /// <summary>
    /// Saves the state of <paramref name="tokens"/>, with the logits after the first <paramref name="logitsAt"/> of them
    /// when given; entries it makes redundant (their tokens begin it) go, then the least recently used until it fits.
    /// <paramref name="next"/> is the token the model sampled after them but never decoded (the last of an answer),
    /// kept beside them for reuse by text (<see cref="NextOf"/>). False (and nothing changes) when it is not
    /// <see cref="Wants">wanted</see>.
    /// </summary>
    public bool Add(IReadOnlyList<int> tokens, byte[] state, float[]? logits = null, int logitsAt = 0, int? next = null)
    {
        ArgumentNullException.ThrowIfNull(state);
        return Add(tokens, new ArrayBuffer(state), state.Length, logits, logitsAt, next);
    }

    /// <summary>
    /// As <see cref="Add(IReadOnlyList{int}, byte[], float[], int, int?)"/>, the state being the first
    /// <paramref name="length"/> bytes of <paramref name="buffer"/> (one reused for it), which the cache then owns when it
    /// returns true: the whole buffer counts in the budget.
    /// </summary>
    public bool Add(IReadOnlyList<int> tokens, IMemoryOwner<byte> buffer, int length, float[]? logits = null, int logitsAt = 0, int? next = null)
    {
        ArgumentNullException.ThrowIfNull(tokens);
        ArgumentNullException.ThrowIfNull(buffer);
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(length, buffer.Memory.Length);
        if (logits is not null)
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(logitsAt, 1);
            ArgumentOutOfRangeException.ThrowIfGreaterThan(logitsAt, tokens.Count);
        }

        var size = (long)buffer.Memory.Length + (logits is null ? 0 : 4L * logits.Length);
        if (!Wants(tokens, size))
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

        while (Bytes + size > BudgetBytes && _index.LeastRecentlyUsed(_ => true) is { } oldest)
        {
            Drop(oldest);
            Evictions++;
        }

        var entry = _nextId++;
        _index.Append(entry, tokens is int[] array ? array : [.. tokens]);
        if (logits is not null)
        {
            _index.MarkOutput(entry, logitsAt);
        }

        _states[entry] = new SavedPrompt(buffer, length, logits, size, next);
        Bytes += size;
        return true;
    }

    /// <summary>
    /// Removes an entry and hands back its tokens, state and the logits it kept (after the first
    /// <c>LogitsAt</c> tokens; null and 0 when none), to restore into a slot, which then holds them.
    /// </summary>
    public (int[] Tokens, byte[] State, float[]? Logits, int LogitsAt) Take(int entryId)
    {
        var (tokens, buffer, length, logits, logitsAt) = TakeBuffer(entryId);
        if (buffer is ArrayBuffer array && array.Array.Length == length)
        {
            return (tokens, array.Array, logits, logitsAt);
        }

        using (buffer)
        {
            return (tokens, buffer.Memory.Span[..length].ToArray(), logits, logitsAt);
        }
    }

    /// <summary>
    /// As <see cref="Take"/>, the state as the buffer it fills the first <c>Length</c> bytes of (the caller owns the
    /// buffer then).
    /// </summary>
    public (int[] Tokens, IMemoryOwner<byte> Buffer, int Length, float[]? Logits, int LogitsAt) TakeBuffer(int entryId)
    {
        if (!_states.TryGetValue(entryId, out var saved))
        {
            throw new KeyNotFoundException($"no host cache entry {entryId}");
        }

        int[] tokens = [.. _index.TokensOf(entryId)];
        var logitsAt = saved.Logits is null ? 0 : _index.OutputAt(entryId);
        Remove(entryId);
        return (tokens, saved.Buffer, saved.Length, saved.Logits, logitsAt);
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
        var buffer = _states[entryId].Buffer;
        Remove(entryId);
        if (_dropped is null)
        {
            buffer.Dispose();
        }
        else
        {
            _dropped(buffer);
        }
    }

    private void Remove(int entryId)
    {
        Bytes -= _states[entryId].Bytes;
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

    private sealed record SavedPrompt(IMemoryOwner<byte> Buffer, int Length, float[]? Logits, long Bytes, int? Next);
}
