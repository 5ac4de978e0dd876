using Maas.Core.Llm;

namespace Maas.Runtimes.Llama.Serving;

/// <summary>The engine's counters: written by the loop thread (and by cancellations), read as one consistent snapshot.</summary>
internal sealed class LlamaEngineCounters
{
    private readonly object _lock = new();
    private long _steps;
    private long _passes;
    private long _batchTokens;
    private long _batchSequences;
    private long _multiSequenceSteps;
    private int _maxSequencesPerStep;
    private long _promptSteps;
    private int _maxPromptsPerStep;
    private int _maxPromptTokensPerStep;
    private long _promptTokens;
    private long _cachedPromptTokens;
    private long _generatedTokens;
    private long _completedRequests;
    private long _cancelledRequests;
    private int _running;
    private int _kvCellsUsed;
    private long _hostSaves;
    private long _hostHits;
    private long _hostRestoredTokens;
    private long _hostEvictions;
    private int _hostEntries;
    private long _hostBytes;
    private long _spareBufferBytes;
    private long _spelledByText;

    /// <summary>
    /// One decode step of <paramref name="tokens"/> tokens over <paramref name="sequences"/> sequences,
    /// <paramref name="prompts"/> of them prompts, that llama.cpp decodes in <paramref name="passes"/> micro-batches.
    /// </summary>
    public void Step(int tokens, int sequences, int prompts, int promptTokens, int passes)
    {
        lock (_lock)
        {
            _steps++;
            _passes += passes;
            _batchTokens += tokens;
            _batchSequences += sequences;
            _multiSequenceSteps += sequences > 1 ? 1 : 0;
            _maxSequencesPerStep = Math.Max(_maxSequencesPerStep, sequences);
            _promptSteps += prompts > 0 ? 1 : 0;
            _maxPromptsPerStep = Math.Max(_maxPromptsPerStep, prompts);
            _maxPromptTokensPerStep = Math.Max(_maxPromptTokensPerStep, promptTokens);
        }
    }

    /// <summary>A request took a slot, reusing <paramref name="cached"/> of its <paramref name="promptTokens"/> prompt tokens.</summary>
    public void Placed(int promptTokens, int cached, int running)
    {
        lock (_lock)
        {
            _promptTokens += promptTokens;
            _cachedPromptTokens += cached;
            _running = running;
        }
    }

    /// <summary>One token generated.</summary>
    public void Generated()
    {
        lock (_lock)
        {
            _generatedTokens++;
        }
    }

    /// <summary>A request ended (cancelled or not); the number still running and the KV cells in use now.</summary>
    public void Released(bool cancelled, int running, int kvCellsUsed)
    {
        lock (_lock)
        {
            _completedRequests++;
            _cancelledRequests += cancelled ? 1 : 0;
            _running = running;
            _kvCellsUsed = kvCellsUsed;
        }
    }

    /// <summary>A request cancelled before it took a slot.</summary>
    public void CancelledWaiting()
    {
        lock (_lock)
        {
            _cancelledRequests++;
            _completedRequests++;
        }
    }

    /// <summary>The KV cells in use now.</summary>
    public void KvCells(int used)
    {
        lock (_lock)
        {
            _kvCellsUsed = used;
        }
    }

    /// <summary>A prompt restored from the host prompt cache, <paramref name="tokens"/> of it reused.</summary>
    public void HostRestored(int tokens)
    {
        lock (_lock)
        {
            _hostHits++;
            _hostRestoredTokens += tokens;
        }
    }

    /// <summary>A prompt spelled with a cached sequence's tokens where they spell its text (reuse by text).</summary>
    public void SpelledByText()
    {
        lock (_lock)
        {
            _spelledByText++;
        }
    }

    /// <summary>A prompt saved to the host prompt cache.</summary>
    public void HostSaved()
    {
        lock (_lock)
        {
            _hostSaves++;
        }
    }

    /// <summary>What the host prompt cache holds now, and the spare state buffers kept beside it for the next saves.</summary>
    public void HostCache(HostPromptCache? cache, long spareBufferBytes)
    {
        lock (_lock)
        {
            if (cache is not null)
            {
                _hostEntries = cache.Count;
                _hostBytes = cache.Bytes;
                _hostEvictions = cache.Evictions;
            }

            _spareBufferBytes = spareBufferBytes;
        }
    }

    /// <summary>A snapshot, with what only the caller knows.</summary>
    public LlmEngineStatistics Snapshot(int waiting, int kvCells, long hostBudget, long fixedMemory)
    {
        lock (_lock)
        {
            return new LlmEngineStatistics
            {
                Steps = _steps,
                DecodePasses = _passes,
                BatchTokens = _batchTokens,
                BatchSequences = _batchSequences,
                MultiSequenceSteps = _multiSequenceSteps,
                MaxSequencesPerStep = _maxSequencesPerStep,
                PromptSteps = _promptSteps,
                MaxPromptsPerStep = _maxPromptsPerStep,
                MaxPromptTokensPerStep = _maxPromptTokensPerStep,
                PromptTokens = _promptTokens,
                CachedPromptTokens = _cachedPromptTokens,
                GeneratedTokens = _generatedTokens,
                CompletedRequests = _completedRequests,
                CancelledRequests = _cancelledRequests,
                Running = _running,
                Waiting = waiting,
                KvCellsUsed = _kvCellsUsed,
                KvCells = kvCells,
                PromptCacheSaves = _hostSaves,
                PromptCacheHits = _hostHits,
                PromptCacheRestoredTokens = _hostRestoredTokens,
                PromptCacheEvictions = _hostEvictions,
                PromptCacheEntries = _hostEntries,
                PromptCacheBytes = _hostBytes,
                PromptCacheBudgetBytes = hostBudget,
                PromptCacheSpareBytes = _spareBufferBytes,
                PromptsReusedByText = _spelledByText,
                MemoryBytes = fixedMemory + _hostBytes + _spareBufferBytes,
            };
        }
    }
}
