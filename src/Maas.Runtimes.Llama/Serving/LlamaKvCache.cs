using System.Buffers;
using System.Diagnostics;
using System.Runtime.InteropServices;
using Maas.Core.Llm;
using Microsoft.Extensions.Logging;

namespace Maas.Runtimes.Llama.Serving;

/// <summary>
/// The KV cache manager of the generation context: which request holds which slot (KV sequence), what every slot
/// holds (the prefix index), where a new request goes (the slot planner), and eviction of idle slots' prefixes.
/// </summary>
/// <remarks>Runs on the engine loop thread only.</remarks>
internal sealed class LlamaKvCache : IDisposable
{
    // Cells idle slots' cached prefixes may always keep in a unified cache (see TrimIdle).
    private const int IdleCacheFloor = 512;

    private static readonly Action<ILogger, int, int, int, long, double, Exception?> RestoredLog = LoggerMessage.Define<int, int, int, long, double>(
        LogLevel.Debug,
        new EventId(1, "PromptCacheRestore"),
        "Slot {Slot}: restored {Tokens} prompt tokens of a saved {Saved} ({Bytes} bytes) from the host prompt cache in {Milliseconds:F2} ms");

    private static readonly Action<ILogger, int, int, long, double, string, Exception?> SavedLog = LoggerMessage.Define<int, int, long, double, string>(
        LogLevel.Debug,
        new EventId(2, "PromptCacheSave"),
        "Slot {Slot}: saved {Tokens} tokens ({Bytes} bytes) to the host prompt cache in {Milliseconds:F2} ms before it was overwritten, into {Buffer} buffer");

    private readonly LlamaContext _context;
    private readonly LlmModelSpec _spec;
    private readonly LlamaSequence?[] _occupants;
    private readonly PrefixCacheIndex _index = new();
    private readonly KvSlotPlanner _planner;
    private readonly HostPromptCache? _host;

    // The host cache's state buffers, handed back when restored or dropped and reused by the next save.
    private readonly StateBufferPool _buffers;

    // The size of the last state saved: what spare buffers made while idle are made for (0 until a save).
    private long _lastSaveBytes;
    private readonly LlamaEngineCounters _counters;
    private readonly Func<int, bool> _idle;
    private readonly ILogger _logger;

    // Token texts for reuse by text (null: off).
    private readonly LlamaTokenPieces? _pieces;

    // Per slot: the logits after the prompt it last evaluated (valid while the index marks that length).
    private readonly float[]?[] _logits;

    // Per idle slot: the token its last request sampled but never decoded (the answer's last; -1 none). Not in the KV
    // nor the index: reuse by text spells with it, and a prompt that takes it computes it like any prompt token.
    private readonly int[] _next;

    // Prefixes copied from one per-slot buffer into another since the last TakeCopies (see CopyByState).
    private int _copies;

    public LlamaKvCache(LlamaContext context, LlmModelSpec spec, LlamaTokenizer tokenizer, LlamaEngineCounters counters, ILogger logger)
    {
        _context = context;
        _logger = logger;
        _spec = spec;
        _counters = counters;
        _occupants = new LlamaSequence?[spec.Slots];
        _planner = new KvSlotPlanner(spec.Slots, spec.UnifiedKvCache, spec.PrefixCache, hostCache: spec.PromptCacheBytes > 0);
        // Spare buffers: as many as the spec keeps, at most a sixteenth of the host cache's budget beside it.
        _buffers = new StateBufferPool(spec.PromptCacheSpareBuffers, maxBytes: spec.PromptCacheBytes / 16, Native.HugePageBuffer.Allocate);
        _host = spec.PrefixCache && spec.PromptCacheBytes > 0 ? new HostPromptCache(spec.PromptCacheBytes, _buffers.Return) : null;
        _idle = Idle;
        _logits = new float[]?[spec.Slots];
        _next = new int[spec.Slots];
        Array.Fill(_next, -1);
        _pieces = spec.PrefixCache && spec.PromptReuseByText ? new LlamaTokenPieces(tokenizer) : null;
    }

    /// <summary>The number of slots.</summary>
    public int Slots => _occupants.Length;

    /// <summary>True when no request runs in the slot.</summary>
    public bool Idle(int slot) => _occupants[slot] is null;

    /// <summary>How many leading tokens of <paramref name="prompt"/> some slot holds.</summary>
    public int LongestCached(int[] prompt) => _index.FindLongest(prompt)?.Length ?? 0;

    /// <summary>
    /// Picks the slot for a new sequence (see <see cref="KvSlotPlanner"/>) and reuses as much cached KV as its prompt
    /// allows: the slot's own, a copy of another slot's, or a prompt restored from host memory. What the slot held
    /// beyond the reused part is saved to host memory first. A prompt being scored reuses nothing (the KV of a cached
    /// prefix holds no logprobs of its tokens): it goes where the planner says and is decoded whole.
    /// </summary>
    public void Place(LlamaSequence sequence)
    {
        if (!sequence.ScoresPrompt)
        {
            SpellByText(sequence);
        }

        var prompt = sequence.Prompt;
        var memory = _context.Memory;
        var (target, reuse, copyFrom, restoreFrom) = _planner.Plan(prompt, _index, _idle, _host?.FindLongest(prompt), sequence.Request.MaxTokens);
        if (sequence.ScoresPrompt)
        {
            (reuse, copyFrom, restoreFrom) = (0, null, null);
        }

        // The last prompt token is decoded again (its logits start the generation) unless its logits were kept.
        reuse = Math.Min(reuse, prompt.Length);
        // Taken before the target is saved, which could otherwise push the entry out of the budget.
        var restored = restoreFrom is { } entry ? _host!.TakeBuffer(entry) : default;
        Save(target, copyFrom is null && restoreFrom is null ? reuse : 0);
        if (restoreFrom is not null)
        {
            reuse = Restore(restored.Tokens, restored.Buffer, restored.Length, target, reuse);
            KeepLogits(target, restored.Logits, restored.LogitsAt, reuse);
        }
        else if (copyFrom is { } from)
        {
            var logitsAt = _index.OutputAt(from);
            _index.Remove(target);
            reuse = _spec.UnifiedKvCache ? (memory.CopyPrefix(from, target, reuse) ? reuse : 0) : CopyByState(from, target, reuse);
            if (reuse > 0)
            {
                _index.Append(target, prompt.AsSpan(0, reuse));
                KeepLogits(target, _logits[from], logitsAt, reuse);
            }
        }
        else if (!memory.Remove(target, reuse, -1))
        {
            // Some caches (recurrent, sliding-window) cannot drop a tail: start the slot over.
            memory.Remove(target);
            _index.Remove(target);
            reuse = 0;
        }
        else
        {
            _index.Truncate(target, reuse);
        }

        if (reuse == prompt.Length && _index.OutputAt(target) != reuse)
        {
            // No logits to start from after all (a failed restore or copy cut it short): decode the last token.
            reuse--;
            if (memory.Remove(target, reuse, -1))
            {
                _index.Truncate(target, reuse);
            }
            else
            {
                memory.Remove(target);
                _index.Remove(target);
                reuse = 0;
            }
        }

        _index.Touch(target);
        _next[target] = -1;
        _occupants[target] = sequence;
        sequence.CacheSource = reuse == 0 ? "none" : restoreFrom is not null ? "host" : copyFrom is not null ? "copy" : "slot";
        sequence.Slot = target;
        sequence.PromptCursor = reuse;
        sequence.Position = reuse;
        // In the request's own tokens: all of them but those still to compute (the same as reuse unless spelled by text).
        sequence.Cached = Math.Clamp(sequence.PromptLength - (prompt.Length - reuse), 0, sequence.PromptLength);
    }

    // Reuse by text (PromptTextMatcher): when a slot or a saved prompt spells more of the prompt's text than any token
    // prefix match reaches, the prompt becomes that cached sequence's head plus the prompt's own tokens after it, and
    // placement goes on with it as usual. Not when the new spelling would no longer fit the slot beside max_tokens.
    private void SpellByText(LlamaSequence sequence)
    {
        if (_pieces is null)
        {
            return;
        }

        var prompt = sequence.Prompt;
        var tokenMatch = Math.Max(_index.FindLongest(prompt)?.Length ?? 0, _host?.FindLongest(prompt)?.Length ?? 0);
        var bestBytes = PromptTextMatcher.TextLength(prompt, tokenMatch, _pieces);
        int[]? best = null;
        for (var slot = 0; slot < _occupants.Length; slot++)
        {
            Consider(_index.TokensOf(slot), _next[slot]);
        }

        foreach (var entry in _host?.EntryIds ?? [])
        {
            Consider(_host!.TokensOf(entry), _host.NextOf(entry) ?? -1);
        }

        if (best is not null && (best.Length <= prompt.Length || best.Length + sequence.Request.MaxTokens <= _spec.ContextPerSlot))
        {
            sequence.Prompt = best;
            sequence.SpelledByText = true;
            _counters.SpelledByText();
        }

        // The cached tokens, then the one sampled after them when there is one: the answer's text to its end.
        void Consider(IReadOnlyList<int> cached, int next)
        {
            if (cached.Count == 0)
            {
                return;
            }

            var tokens = next >= 0 ? [.. cached, next] : cached is List<int> list ? CollectionsMarshal.AsSpan(list) : [.. cached];
            var match = PromptTextMatcher.Match(tokens, prompt, _pieces);
            if (match.Bytes > bestBytes)
            {
                bestBytes = match.Bytes;
                best = PromptTextMatcher.Splice(tokens, prompt, match);
            }
        }
    }

    // With one KV buffer per slot llama.cpp copies a sequence into another only as the whole buffer (2048 cells of every
    // layer, 128 MB for the benchmark's model, at the next decode: 20-60 ms of that decode in the engine log's steps);
    // through the sequence state API only the source's cells go, through a pooled buffer (about 3 ms for 380 tokens).
    // Then cut to the prefix. Returns the tokens the target holds: `reuse`, or 0 when the copy failed (target empty).
    private int CopyByState(int from, int target, int reuse)
    {
        var memory = _context.Memory;
        memory.Remove(target);
        if (reuse <= 0)
        {
            return 0;
        }

        var size = _context.GetSequenceStateSize(from);
        var buffer = _buffers.Rent(size);
        try
        {
            var state = buffer.Memory.Span[..checked((int)size)];
            _context.SaveSequenceState(from, state);
            _context.LoadSequenceState(target, state);
        }
        catch (LlamaException)
        {
            memory.Remove(target);
            return 0;
        }
        finally
        {
            _buffers.Return(buffer);
            ReportMemory();
        }

        _copies++;
        if (!memory.Remove(target, reuse, -1))
        {
            memory.Remove(target);
            return 0;
        }

        return reuse;
    }

    // Keeps what a slot holds in host memory before all but its first `kept` tokens are overwritten, when enough of it
    // would be lost to be worth the copy (HostPromptCache.WorthSaving: another request's prompt, or half the slot).
    private void Save(int slot, int kept)
    {
        var tokens = _index.TokensOf(slot);
        if (_host is null || !HostPromptCache.WorthSaving(tokens.Count, kept, _index.OutputAt(slot)))
        {
            return;
        }

        var size = _context.GetSequenceStateSize(slot);
        if (!_host.Wants(tokens, size))
        {
            return;
        }

        var started = Stopwatch.GetTimestamp();
        var logitsAt = _index.OutputAt(slot);
        var logits = logitsAt > 0 ? _logits[slot]!.ToArray() : null;
        var reused = _buffers.Reused;
        var buffer = _buffers.Rent(size);
        _context.SaveSequenceState(slot, buffer.Memory.Span[..checked((int)size)]);
        _lastSaveBytes = size;
        if (_host.Add([.. tokens], buffer, (int)size, logits, logitsAt, _next[slot] >= 0 ? _next[slot] : null))
        {
            _counters.HostSaved();
            if (_logger.IsEnabled(LogLevel.Debug))
            {
                SavedLog(_logger, slot, tokens.Count, size, Stopwatch.GetElapsedTime(started).TotalMilliseconds, _buffers.Reused > reused ? "a reused" : "a new", null);
            }
        }
        else
        {
            _buffers.Return(buffer);
        }

        ReportMemory();
    }

    /// <summary>
    /// Makes one spare buffer for a save the size of the last one, ahead of need (the loop calls this while idle); false
    /// when there is nothing to make: no host cache, no save yet (a workload that never saves gets no spares), or the
    /// pool is full.
    /// </summary>
    public bool PrepareSaveBuffer()
    {
        if (_host is null || _lastSaveBytes == 0 || !_buffers.Prepare(_lastSaveBytes))
        {
            return false;
        }

        ReportMemory();
        return true;
    }

    // The host cache's bytes and the spare buffers beside it count in the model's memory (statistics, placement).
    private void ReportMemory() => _counters.HostCache(_host, _buffers.Bytes);

    // The slot now holds the first `reuse` tokens of a source that kept the logits after its first `logitsAt`: they
    // stay valid when within what the slot holds.
    private void KeepLogits(int slot, float[]? logits, int logitsAt, int reuse)
    {
        if (logits is null || logitsAt <= 0 || logitsAt > reuse)
        {
            return;
        }

        var buffer = _logits[slot] ??= new float[logits.Length];
        logits.CopyTo(buffer, 0);
        _index.MarkOutput(slot, logitsAt);
    }

    /// <summary>
    /// Keeps the logits after a prompt just evaluated in <paramref name="slot"/> (its first <paramref name="length"/>
    /// tokens), so the same prompt again starts generating without a decode.
    /// </summary>
    public void PromptEvaluated(int slot, int length, ReadOnlySpan<float> logits)
    {
        if (!_spec.PrefixCache)
        {
            return;
        }

        var buffer = _logits[slot];
        if (buffer is null || buffer.Length != logits.Length)
        {
            _logits[slot] = buffer = new float[logits.Length];
        }

        logits.CopyTo(buffer);
        _index.MarkOutput(slot, length);
    }

    /// <summary>The logits kept after the prompt a slot last evaluated (see <see cref="PromptEvaluated"/>).</summary>
    public ReadOnlySpan<float> OutputLogits(int slot) =>
        _index.OutputAt(slot) > 0 && _logits[slot] is { } logits ? logits : throw new InvalidOperationException($"slot {slot} kept no logits");

    // Loads a saved prompt into the slot and cuts it to the part the new prompt shares; the entry moves to the slot.
    private int Restore(int[] tokens, IMemoryOwner<byte> state, int length, int slot, int reuse)
    {
        var started = Stopwatch.GetTimestamp();
        var memory = _context.Memory;
        _index.Remove(slot);
        memory.Remove(slot);
        try
        {
            _context.LoadSequenceState(slot, state.Memory.Span[..length]);
        }
        catch (LlamaException)
        {
            memory.Remove(slot); // llama.cpp empties the sequence when a restore fails; make sure of it
            return 0;
        }
        finally
        {
            _buffers.Return(state);
            ReportMemory();
        }

        if (!memory.Remove(slot, reuse, -1))
        {
            memory.Remove(slot);
            return 0;
        }

        _index.Append(slot, tokens.AsSpan(0, reuse));
        _counters.HostRestored(reuse);
        if (_logger.IsEnabled(LogLevel.Debug))
        {
            RestoredLog(_logger, slot, reuse, tokens.Length, (long)length, Stopwatch.GetElapsedTime(started).TotalMilliseconds, null);
        }

        return reuse;
    }

    /// <summary>Prefixes copied between per-slot KV buffers (at placement) since the last call.</summary>
    public int TakeCopies()
    {
        var copies = _copies;
        _copies = 0;
        return copies;
    }

    /// <summary>Frees the host cache's saved states and spare buffers (native memory); the loop has stopped.</summary>
    public void Dispose()
    {
        _host?.Clear();
        _buffers.Dispose();
    }

    /// <summary>Records tokens just decoded into a slot's KV.</summary>
    public void Appended(int slot, ReadOnlySpan<int> tokens) => _index.Append(slot, tokens);

    /// <summary>
    /// The request left its slot; the slot keeps its KV as a cached prefix for later requests, and
    /// <paramref name="next"/>, the token it sampled last but never decoded, for reuse by text.
    /// </summary>
    public void Vacate(int slot, int? next)
    {
        _occupants[slot] = null;
        _next[slot] = next ?? -1;
        _index.Touch(slot);
    }

    /// <summary>Saves an idle slot's prompt to host memory (when worth it), then drops its KV.</summary>
    private void Evict(int slot)
    {
        Save(slot, 0);
        Forget(slot);
    }

    /// <summary>Drops a slot's KV (half written after a failed step, say).</summary>
    public void Forget(int slot)
    {
        _context.Memory.Remove(slot);
        _index.Remove(slot);
        _next[slot] = -1;
    }

    // Shared prefixes share cells in the unified cache, as they share nodes in the index; per-slot buffers each
    // hold their own copy.

    /// <summary>KV cells in use.</summary>
    public int CellsUsed()
    {
        if (_spec.UnifiedKvCache)
        {
            return _index.NodeCount;
        }

        var cells = 0;
        for (var slot = 0; slot < _occupants.Length; slot++)
        {
            cells += _index.LengthOf(slot); // a plain loop: this runs every step
        }

        return cells;
    }

    /// <summary>Drops every idle slot's cached prefix (the cache ran full); true when any went.</summary>
    public bool EvictIdle()
    {
        var evicted = false;
        for (var slot = 0; slot < _occupants.Length; slot++)
        {
            if (Idle(slot) && _index.LengthOf(slot) > 0)
            {
                Evict(slot);
                evicted = true;
            }
        }

        return evicted;
    }

    /// <summary>
    /// In a unified cache every cell in use lengthens every token's attention walk (masked cells are skipped one by
    /// one), so idle slots' cached prefixes may hold about as many cells as the running sequences, at least
    /// IdleCacheFloor; beyond that the least recently used go. Cells shared with a running sequence stay whatever goes.
    /// </summary>
    public void TrimIdle()
    {
        var running = 0;
        for (var slot = 0; slot < _occupants.Length; slot++)
        {
            running += Idle(slot) ? 0 : _index.LengthOf(slot);
        }

        var budget = Math.Max(IdleCacheFloor, 2 * running);
        while (_index.NodeCount > budget && _index.LeastRecentlyUsed(id => Idle(id) && _index.LengthOf(id) > 0) is { } slot)
        {
            Evict(slot);
        }
    }
}
