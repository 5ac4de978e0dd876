using Maas.Core.Llm;

namespace Maas.Runtimes.Llama.Serving;

/// <summary>The engine's counters: written by the loop thread (and by cancellations), read as one consistent snapshot.</summary>
internal sealed class LlamaEngineCounters
{
    private readonly object _lock = new();
    private long _steps;
    private long _batchTokens;
    private long _batchSequences;
    private long _multiSequenceSteps;
    private int _maxSequencesPerStep;
    private long _promptSteps;
    private int _maxPromptsPerStep;
    private long _promptTokens;
    private long _cachedPromptTokens;
    private long _generatedTokens;
    private long _completedRequests;
    private long _cancelledRequests;
    private int _running;
    private int _kvCellsUsed;

    /// <summary>One decode step of <paramref name="tokens"/> tokens over <paramref name="sequences"/> sequences, <paramref name="prompts"/> of them prompts.</summary>
    public void Step(int tokens, int sequences, int prompts)
    {
        lock (_lock)
        {
            _steps++;
            _batchTokens += tokens;
            _batchSequences += sequences;
            _multiSequenceSteps += sequences > 1 ? 1 : 0;
            _maxSequencesPerStep = Math.Max(_maxSequencesPerStep, sequences);
            _promptSteps += prompts > 0 ? 1 : 0;
            _maxPromptsPerStep = Math.Max(_maxPromptsPerStep, prompts);
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

    /// <summary>A snapshot, with what only the caller knows.</summary>
    public LlmEngineStatistics Snapshot(int waiting, int kvCells)
    {
        lock (_lock)
        {
            return new LlmEngineStatistics
            {
                Steps = _steps,
                BatchTokens = _batchTokens,
                BatchSequences = _batchSequences,
                MultiSequenceSteps = _multiSequenceSteps,
                MaxSequencesPerStep = _maxSequencesPerStep,
                PromptSteps = _promptSteps,
                MaxPromptsPerStep = _maxPromptsPerStep,
                PromptTokens = _promptTokens,
                CachedPromptTokens = _cachedPromptTokens,
                GeneratedTokens = _generatedTokens,
                CompletedRequests = _completedRequests,
                CancelledRequests = _cancelledRequests,
                Running = _running,
                Waiting = waiting,
                KvCellsUsed = _kvCellsUsed,
                KvCells = kvCells,
            };
        }
    }
}
