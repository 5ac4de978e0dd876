namespace Maas.Core.Llm;

/// <summary>
/// A token trie over the sequences held in KV cache: finds which entry shares the longest prefix with a new prompt,
/// and which entry was used least recently (the one to overwrite).
/// </summary>
/// <remarks>
/// Entries share trie nodes for their common prefixes, so a lookup costs the length of the match, not the number of
/// entries times their length. Not thread-safe: the engine loop that owns the KV cache owns its index.
/// </remarks>
public sealed class PrefixCacheIndex
{
    private readonly Node _root = new(-1, null);
    private readonly Dictionary<int, Entry> _entries = [];
    private long _clock;

    /// <summary>The number of entries.</summary>
    public int Count => _entries.Count;

    /// <summary>The number of trie nodes (distinct cached prefixes); shared prefixes count once.</summary>
    public int NodeCount { get; private set; }

    /// <summary>True when the entry exists.</summary>
    public bool Contains(int entryId) => _entries.ContainsKey(entryId);

    /// <summary>The tokens an entry holds (empty for an unknown entry).</summary>
    public IReadOnlyList<int> TokensOf(int entryId) => _entries.TryGetValue(entryId, out var e) ? e.Tokens : [];

    /// <summary>How many tokens an entry holds.</summary>
    public int LengthOf(int entryId) => _entries.TryGetValue(entryId, out var e) ? e.Tokens.Count : 0;

    /// <summary>Appends tokens to an entry, creating it when new; marks it used.</summary>
    public void Append(int entryId, ReadOnlySpan<int> tokens)
    {
        if (!_entries.TryGetValue(entryId, out var entry))
        {
            entry = new Entry();
            _entries[entryId] = entry;
        }

        var node = entry.Path.Count == 0 ? _root : entry.Path[^1];
        foreach (var token in tokens)
        {
            node.Children ??= [];
            if (!node.Children.TryGetValue(token, out var child))
            {
                child = new Node(token, node);
                node.Children[token] = child;
                NodeCount++;
            }

            child.Entries.Add(entryId);
            entry.Path.Add(child);
            entry.Tokens.Add(token);
            node = child;
        }

        entry.LastUsed = ++_clock;
    }

    /// <summary>
    /// Records that the engine keeps the logits after the first <paramref name="length"/> tokens of an entry (the end of
    /// a prompt it evaluated), so a later prompt of exactly those tokens needs no decode to start generating. An entry
    /// keeps one such mark, the latest; it goes when the entry is cut shorter than it.
    /// </summary>
    public void MarkOutput(int entryId, int length)
    {
        if (_entries.TryGetValue(entryId, out var entry) && length > 0 && length <= entry.Tokens.Count)
        {
            entry.OutputAt = length;
        }
    }

    /// <summary>The length after which an entry's logits are kept (see <see cref="MarkOutput"/>), or 0.</summary>
    public int OutputAt(int entryId) => _entries.TryGetValue(entryId, out var e) ? e.OutputAt : 0;

    /// <summary>Appends one token to an entry.</summary>
    public void Append(int entryId, int token) => Append(entryId, [token]);

    /// <summary>Keeps only the first <paramref name="length"/> tokens of an entry.</summary>
    public void Truncate(int entryId, int length)
    {
        if (!_entries.TryGetValue(entryId, out var entry))
        {
            return;
        }

        length = Math.Max(0, length);
        if (entry.OutputAt > length)
        {
            entry.OutputAt = 0;
        }

        for (var i = entry.Path.Count - 1; i >= length; i--)
        {
            Detach(entry.Path[i], entryId);
        }

        if (length < entry.Path.Count)
        {
            entry.Path.RemoveRange(length, entry.Path.Count - length);
            entry.Tokens.RemoveRange(length, entry.Tokens.Count - length);
        }
    }

    /// <summary>Forgets an entry.</summary>
    public void Remove(int entryId)
    {
        Truncate(entryId, 0);
        _entries.Remove(entryId);
    }

    /// <summary>Marks an entry as just used (it moves to the back of the eviction order).</summary>
    public void Touch(int entryId)
    {
        if (_entries.TryGetValue(entryId, out var entry))
        {
            entry.LastUsed = ++_clock;
        }
    }

    /// <summary>
    /// The entry sharing the longest prefix with <paramref name="tokens"/> among those <paramref name="eligible"/>
    /// accepts (all when null); ties go to the most recently used. Null when none shares even one token.
    /// </summary>
    public PrefixMatch? FindLongest(IReadOnlyList<int> tokens, Func<int, bool>? eligible = null)
    {
        var node = _root;
        PrefixMatch? best = null;
        for (var depth = 0; depth < tokens.Count; depth++)
        {
            if (node.Children is null || !node.Children.TryGetValue(tokens[depth], out var child))
            {
                break;
            }

            node = child;
            var pick = -1;
            var pickUsed = long.MinValue;
            foreach (var id in node.Entries)
            {
                if ((eligible is null || eligible(id)) && _entries[id].LastUsed > pickUsed)
                {
                    pick = id;
                    pickUsed = _entries[id].LastUsed;
                }
            }

            if (pick < 0)
            {
                break; // deeper nodes only hold subsets of these entries
            }

            best = new PrefixMatch(pick, depth + 1);
        }

        return best;
    }

    /// <summary>The least recently used entry <paramref name="eligible"/> accepts, or null.</summary>
    public int? LeastRecentlyUsed(Func<int, bool> eligible)
    {
        int? pick = null;
        var used = long.MaxValue;
        foreach (var (id, entry) in _entries)
        {
            if (entry.LastUsed < used && eligible(id))
            {
                pick = id;
                used = entry.LastUsed;
            }
        }

        return pick;
    }

    private void Detach(Node node, int entryId)
    {
        node.Entries.Remove(entryId);
        if (node.Entries.Count == 0 && node.Parent is { } parent)
        {
            parent.Children!.Remove(node.Token);
            NodeCount--;
        }
    }

    private sealed class Node(int token, Node? parent)
    {
        public int Token { get; } = token;

        public Node? Parent { get; } = parent;

        public Dictionary<int, Node>? Children { get; set; }

        // Entries whose sequence passes through this node; a handful at most (one per slot).
        public List<int> Entries { get; } = [];
    }

    private sealed class Entry
    {
        public List<int> Tokens { get; } = [];

        public List<Node> Path { get; } = [];

        public long LastUsed { get; set; }

        public int OutputAt { get; set; }
    }
}
