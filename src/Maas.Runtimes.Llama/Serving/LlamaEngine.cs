using System.Runtime.CompilerServices;
using System.Text;
using System.Threading.Channels;
using Maas.Core.Llm;

namespace Maas.Runtimes.Llama.Serving;

/// <summary>
/// Serves one GGUF model with continuous batching: a loop thread owns a llama.cpp context with one KV sequence per
/// slot and, every step, decodes ONE batch holding the next token of each generating sequence plus a chunk of prompt
/// for new ones, then samples each sequence with its own sampler chain.
/// </summary>
/// <remarks>
/// By default each slot has its own KV buffer (llama.cpp's per-sequence streams, as llama-server runs), so a token's
/// attention walks only its own slot's cells. Finished requests leave their KV in their slot as a cached prefix. A new
/// request takes an idle slot next to the running ones (llama.cpp decodes per-slot buffers in one pass only for
/// consecutive sequence ids), preferring the one whose cached prefix it shares most, else the least recently used;
/// when another slot, running or idle, holds a longer prefix (by at least <c>CopyMinimum</c> tokens) that slot's
/// buffer is copied (llama.cpp copies whole buffers between streams) and cut to the shared part.
/// With <see cref="LlmModelSpec.UnifiedKvCache"/> all slots share one buffer: a prefix cached in any slot is copied
/// into a new request's slot by metadata alone and cells several slots share are read once per step, but every
/// token's attention walks the cells of all slots, so idle slots' prefixes are trimmed to a budget. Either way each
/// slot holds at most <see cref="LlmModelSpec.ContextPerSlot"/> tokens, so the cache never overflows.
/// </remarks>
public sealed class LlamaEngine : ILlmEngine
{
    private readonly LlmModelSpec _spec;
    private readonly LlamaModel _model;
    private readonly LlamaContext? _context;
    private readonly LlamaBatch? _batch;
    private readonly Slot[] _slots;
    private const int SharedPrefixMinimum = 32;

    // Cells idle slots' cached prefixes may always keep in a unified cache (see TrimIdleCaches).
    private const int IdleCacheFloor = 512;

    // Copying a slot's whole KV buffer costs about as much as computing a few dozen prompt tokens.
    private const int CopyMinimum = 32;
    private const int PromptPackTokens = 32;
    private readonly List<Sequence> _active = [];
    private readonly List<Sequence> _deferred = [];
    private readonly List<Sequence> _inStep = [];
    private readonly PrefixCacheIndex _index = new();
    private readonly LlmRequestQueue<Sequence> _queue;
    private readonly ManualResetEventSlim _wake = new(false);
    private readonly Thread? _loop;
    private readonly int[] _endTokens;
    private readonly HashSet<int> _endTokenSet;
    private readonly bool _chatFromModel;
    private readonly int _threads;
    private readonly object _statsLock = new();
    private readonly SemaphoreSlim _embedLock = new(1, 1);
    private readonly Counters _counters = new();
    private LlamaContext? _embedContext;
    private volatile bool _stopping;
    private int _running;
    private int _deferredCount;
    private int _disposed;

    private LlamaEngine(LlmModelSpec spec, LlamaModel model)
    {
        _spec = spec;
        _model = model;
        _threads = spec.Threads > 0 ? spec.Threads : Environment.ProcessorCount;
        _slots = Enumerable.Range(0, spec.Slots).Select(i => new Slot(i)).ToArray();
        _queue = new LlmRequestQueue<Sequence>(spec.QueueLimit);
        _endTokens = Enumerable.Range(0, model.VocabularySize).Where(model.Tokenizer.IsEndOfGeneration).ToArray();
        _endTokenSet = [.. _endTokens];
        _chatFromModel = ModelTemplateWorks(model);
        if (model.HasDecoder)
        {
            var batchSize = Math.Max(spec.BatchSize, spec.Slots);
            _context = model.CreateContext(new LlamaContextOptions
            {
                ContextSize = (uint)(spec.Slots * spec.ContextPerSlot),
                BatchSize = (uint)batchSize,
                MicroBatchSize = (uint)batchSize,
                SequenceCount = (uint)spec.Slots,
                Threads = _threads,
                BatchThreads = _threads,
                UnifiedKvCache = spec.UnifiedKvCache,
                Embeddings = false,
            });
            _batch = new LlamaBatch(batchSize);
            _loop = new Thread(Run) { IsBackground = true, Name = $"llm {spec.Name} v{spec.Version}" };
            _loop.Start();
        }

        Info = new LlmModelInfo
        {
            Name = spec.Name,
            Version = spec.Version,
            Architecture = model.Architecture,
            Description = model.Description,
            ContextPerSlot = spec.ContextPerSlot,
            Slots = spec.Slots,
            TrainContext = model.TrainingContextLength,
            VocabularySize = model.VocabularySize,
            EmbeddingSize = model.EmbeddingLength,
            ChatFormat = _chatFromModel ? "gguf" : "chatml",
            KvCache = spec.UnifiedKvCache ? "unified" : "per-slot",
            PromptAdmission = spec.StaggersPrompts ? "staggered" : "batched",
            LoadedAt = DateTimeOffset.UtcNow,
        };
    }

    /// <inheritdoc />
    public LlmModelInfo Info { get; }

    /// <summary>Loads the model file and starts the engine loop.</summary>
    /// <exception cref="LlamaException">llama.cpp refused the file or the context.</exception>
    public static LlamaEngine Load(LlmModelSpec spec, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var model = LlamaModel.Load(spec.Path, cancellationToken: cancellationToken);
        try
        {
            return new LlamaEngine(spec, model);
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    /// <inheritdoc />
    public IReadOnlyList<int> Tokenize(string text, bool addSpecial, bool parseSpecial)
    {
        var tokens = _model.Tokenizer.Tokenize(text, addSpecial, parseSpecial);
        // A template that writes the BOS text itself plus the tokenizer's own BOS would start with two.
        if (addSpecial && tokens.Length >= 2 && _model.Tokenizer.Bos is { } bos && tokens[0] == bos && tokens[1] == bos)
        {
            return tokens[1..];
        }

        return tokens;
    }

    /// <inheritdoc />
    public string TokenText(int token) => Encoding.UTF8.GetString(_model.Tokenizer.GetPieceBytes(token));

    /// <inheritdoc />
    public string Detokenize(IReadOnlyList<int> tokens, bool renderSpecial) =>
        _model.Tokenizer.Detokenize([.. tokens], removeSpecial: false, unparseSpecial: renderSpecial);

    /// <inheritdoc />
    public string FormatChat(IReadOnlyList<ChatMessage> messages)
    {
        if (!_chatFromModel)
        {
            return ChatMlFormat.Format(messages);
        }

        try
        {
            return _model.ApplyChatTemplate(messages.Select(m => new LlamaChatMessage(m.Role, m.Content)).ToList(), addAssistant: true);
        }
        catch (LlamaException ex)
        {
            throw LlmException.Invalid($"the model's chat template could not render these messages: {ex.Message}", "messages");
        }
    }

    /// <inheritdoc />
    /// <remarks>Validation, the sampler chain (grammar included) and the queue check happen here, before the first await.</remarks>
    public IAsyncEnumerable<GenerationEvent> GenerateAsync(GenerationRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        ObjectDisposedException.ThrowIf(_disposed != 0 || _stopping, this);
        if (_context is null)
        {
            throw LlmException.Invalid($"model '{_spec.Name}' is an embedding model and cannot generate text; use /v1/embeddings", "model", "model_not_generative");
        }

        if (request.PromptTokens.Count == 0 || request.PromptTokens.Count + request.MaxTokens > _spec.ContextPerSlot)
        {
            throw new LlmException(LlmErrorKind.ContextOverflow, $"the prompt ({request.PromptTokens.Count} tokens) plus max_tokens ({request.MaxTokens}) must fit the context of {_spec.ContextPerSlot} tokens", "messages", "context_length_exceeded");
        }

        cancellationToken.ThrowIfCancellationRequested();
        var sequence = new Sequence(request, BuildSampler(request), _model.Tokenizer.CreateStreamingDetokenizer(), new StopSequenceMatcher(request.Stop));
        try
        {
            _queue.Enqueue(sequence, _slots.Length - Volatile.Read(ref _running));
        }
        catch
        {
            sequence.Sampler.Dispose();
            throw;
        }

        sequence.Registration = cancellationToken.Register(() => Cancel(sequence));
        _wake.Set();
        return ReadAsync(sequence, cancellationToken);
    }

    /// <inheritdoc />
    public async Task<IReadOnlyList<float[]>> EmbedAsync(IReadOnlyList<IReadOnlyList<int>> inputs, bool normalize, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        await _embedLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            return await Task.Run(() => Embed(inputs, normalize, cancellationToken), cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _embedLock.Release();
        }
    }

    /// <inheritdoc />
    public LlmEngineStatistics GetStatistics()
    {
        lock (_statsLock)
        {
            var c = _counters;
            return new LlmEngineStatistics
            {
                Steps = c.Steps,
                BatchTokens = c.BatchTokens,
                BatchSequences = c.BatchSequences,
                MultiSequenceSteps = c.MultiSequenceSteps,
                MaxSequencesPerStep = c.MaxSequencesPerStep,
                PromptSteps = c.PromptSteps,
                MaxPromptsPerStep = c.MaxPromptsPerStep,
                PromptTokens = c.PromptTokens,
                CachedPromptTokens = c.CachedPromptTokens,
                GeneratedTokens = c.GeneratedTokens,
                CompletedRequests = c.CompletedRequests,
                CancelledRequests = c.CancelledRequests,
                Running = c.Running,
                Waiting = _queue.Count + Volatile.Read(ref _deferredCount),
                KvCellsUsed = c.KvCellsUsed,
                KvCells = _context?.ContextSize ?? 0,
            };
        }
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        _stopping = true;
        _wake.Set();
        if (_loop is not null)
        {
            await Task.Run(_loop.Join).ConfigureAwait(false);
        }

        await _embedLock.WaitAsync().ConfigureAwait(false);
        _embedContext?.Dispose();
        _batch?.Dispose();
        _context?.Dispose();
        _model.Dispose();
        _wake.Dispose();
        _embedLock.Dispose();
    }

    private static bool ModelTemplateWorks(LlamaModel model)
    {
        if (model.ChatTemplate is null)
        {
            return false;
        }

        try
        {
            model.ApplyChatTemplate([new LlamaChatMessage("user", "hi")]);
            return true;
        }
        catch (LlamaException)
        {
            return false; // a Jinja template llama.cpp cannot run: the documented default (ChatML) instead
        }
    }

    private LlamaSequenceSampler BuildSampler(GenerationRequest request)
    {
        var s = request.Sampling;
        var chain = new LlamaSamplerChain();
        try
        {
            var bias = new Dictionary<int, float>();
            foreach (var (token, value) in s.LogitBias)
            {
                bias[token] = value <= -100 ? float.NegativeInfinity : value; // OpenAI: -100 bans the token
            }

            if (s.IgnoreEos)
            {
                foreach (var token in _endTokens)
                {
                    bias[token] = float.NegativeInfinity;
                }
            }

            if (bias.Count > 0)
            {
                chain.AddLogitBias(_model, bias);
            }

            if (s.RepeatPenalty != 1f || s.FrequencyPenalty != 0f || s.PresencePenalty != 0f)
            {
                chain.AddPenalties(_model.VocabularySize, s.PenaltyLastN, s.RepeatPenalty, s.FrequencyPenalty, s.PresencePenalty);
            }

            if (s.IsGreedy)
            {
                chain.AddGreedy();
            }
            else
            {
                if (s.TopK > 0)
                {
                    chain.AddTopK(s.TopK);
                }

                if (s.TopP < 1f)
                {
                    chain.AddTopP(s.TopP);
                }

                if (s.MinP > 0f)
                {
                    chain.AddMinP(s.MinP);
                }

                chain.AddTemperature(s.Temperature);
                chain.AddDistribution(s.Seed ?? (uint)Random.Shared.Next());
            }

            // The grammar stays out of the chain and runs before it (so truncation chooses among tokens it allows):
            // a step where it allows nothing is then seen before llama.cpp could throw (see LlamaSequenceSampler).
            return LlamaSequenceSampler.Create(_model, chain, request.Grammar, _endTokens);
        }
        catch (Exception ex) when (ex is LlamaException or ArgumentException)
        {
            chain.Dispose();
            throw LlmException.Invalid(
                $"the sampling settings were refused by llama.cpp: {ex.Message}{(ex is LlamaException { NativeLog.Length: > 0 } l ? " (" + l.NativeLog.Trim() + ")" : "")}",
                request.Grammar is null ? null : "response_format");
        }
    }

    private async IAsyncEnumerable<GenerationEvent> ReadAsync(Sequence sequence, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        try
        {
            await foreach (var e in sequence.Events.Reader.ReadAllAsync(cancellationToken).ConfigureAwait(false))
            {
                yield return e;
            }
        }
        finally
        {
            // A reader that stops early (disconnect, error elsewhere) frees the sequence at the next step.
            Cancel(sequence);
            await sequence.Registration.DisposeAsync().ConfigureAwait(false);
        }
    }

    private void Cancel(Sequence sequence)
    {
        if (Volatile.Read(ref sequence.Done) != 0)
        {
            return;
        }

        sequence.Cancelled = true;
        if (_queue.Remove(sequence))
        {
            // Never admitted: nothing on the loop thread refers to it.
            if (Interlocked.Exchange(ref sequence.Done, 1) == 0)
            {
                sequence.Sampler.Dispose();
                sequence.Events.Writer.TryComplete(new OperationCanceledException("the request was cancelled while waiting for a slot"));
                lock (_statsLock)
                {
                    _counters.CancelledRequests++;
                    _counters.CompletedRequests++;
                }
            }
        }

        if (!_stopping && _disposed == 0)
        {
            try
            {
                _wake.Set();
            }
            catch (ObjectDisposedException)
            {
            }
        }
    }

    // ---- the engine loop: everything below runs on the loop thread only ----
    private void Run()
    {
        while (!_stopping)
        {
            _wake.Reset();
            try
            {
                DropCancelled();
                Admit();
                if (_active.Count == 0)
                {
                    _wake.Wait();
                    continue;
                }

                Step();
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                // Whatever broke, the requests in flight get the error and the loop goes on serving new ones.
                foreach (var sequence in _active.ToArray())
                {
                    Fail(sequence, new LlmException(LlmErrorKind.Internal, "the engine failed: " + ex.Message, code: "engine_error", inner: ex));
                }
            }
        }

        var unloading = new LlmException(LlmErrorKind.Unavailable, $"model '{_spec.Name}' is being unloaded", "model", "model_unloading");
        foreach (var sequence in _active.ToArray())
        {
            Fail(sequence, unloading);
        }

        foreach (var sequence in _deferred.Concat(_queue.DrainAll()))
        {
            if (Interlocked.Exchange(ref sequence.Done, 1) == 0)
            {
                sequence.Sampler.Dispose();
                sequence.Events.Writer.TryComplete(unloading);
            }
        }
    }

    private void DropCancelled()
    {
        for (var i = _active.Count - 1; i >= 0; i--)
        {
            var sequence = _active[i];
            if (sequence.Cancelled)
            {
                Release(sequence, cancelled: true);
                sequence.Events.Writer.TryComplete(new OperationCanceledException("the request was cancelled"));
            }
        }
    }

    private void Admit()
    {
        // Requests held back for a running prompt that shares their beginning go first, in arrival order.
        for (var i = 0; i < _deferred.Count && _active.Count < _slots.Length; i++)
        {
            var sequence = _deferred[i];
            if (sequence.Cancelled || !WaitsForSharedPrefix(sequence))
            {
                _deferred.RemoveAt(i--);
                Start(sequence);
            }
        }

        while (_active.Count < _slots.Length && _queue.TryDequeue(out var sequence))
        {
            if (_spec.PrefixCache && !sequence!.Cancelled && WaitsForSharedPrefix(sequence))
            {
                _deferred.Add(sequence);
                continue;
            }

            Start(sequence!);
        }

        Volatile.Write(ref _deferredCount, _deferred.Count);
        if (_spec.UnifiedKvCache && _spec.PrefixCache)
        {
            TrimIdleCaches();
        }
    }

    // In a unified cache every cell in use lengthens every token's attention walk (masked cells are skipped one by
    // one), so idle slots' cached prefixes may hold about as many cells as the running sequences, at least
    // IdleCacheFloor; beyond that the least recently used go. Cells shared with a running sequence stay whatever goes.
    private void TrimIdleCaches()
    {
        var running = 0;
        foreach (var sequence in _active)
        {
            running += _index.LengthOf(sequence.Slot);
        }

        var budget = Math.Max(IdleCacheFloor, 2 * running);
        while (_index.NodeCount > budget && _index.LeastRecentlyUsed(id => Idle(id) && _index.LengthOf(id) > 0) is { } slot)
        {
            _context!.Memory.Remove(slot);
            _index.Remove(slot);
        }
    }

    private void Start(Sequence sequence)
    {
        if (sequence.Cancelled)
        {
            if (Interlocked.Exchange(ref sequence.Done, 1) == 0)
            {
                sequence.Sampler.Dispose();
                sequence.Events.Writer.TryComplete(new OperationCanceledException("the request was cancelled"));
                lock (_statsLock)
                {
                    _counters.CancelledRequests++;
                    _counters.CompletedRequests++;
                }
            }

            return;
        }

        Place(sequence);
        sequence.Request.Progress?.Admitted();
        _active.Add(sequence);
        Interlocked.Increment(ref _running);
    }

    // True while a running sequence is still decoding a prompt prefix this one shares (at least
    // SharedPrefixMinimum tokens beyond what the cache holds): waiting a few steps and copying that KV beats
    // computing the same prefix twice in the same batches (a burst of requests with one system prompt).
    private bool WaitsForSharedPrefix(Sequence sequence)
    {
        var cached = _index.FindLongest(sequence.Prompt)?.Length ?? 0;
        foreach (var other in _active)
        {
            if (other.PromptCursor >= other.Prompt.Length)
            {
                continue;
            }

            var shared = CommonPrefix(sequence.Prompt, other.Prompt);
            if (shared - cached >= SharedPrefixMinimum && other.PromptCursor < Math.Min(shared, sequence.Prompt.Length - 1))
            {
                return true;
            }
        }

        return false;
    }

    private static int CommonPrefix(int[] a, int[] b)
    {
        var n = Math.Min(a.Length, b.Length);
        return a.AsSpan(0, n).CommonPrefixLength(b.AsSpan(0, n));
    }

    // Picks the slot for a new sequence and reuses as much cached KV as its prompt allows.
    private void Place(Sequence sequence)
    {
        var prompt = sequence.Prompt;
        var memory = _context!.Memory;
        var (target, reuse, copyFrom) = _spec.UnifiedKvCache ? PickUnified(prompt) : PickPerSlot(prompt);

        // At least the last prompt token is decoded again: its logits start the generation.
        reuse = Math.Min(reuse, prompt.Length - 1);
        if (copyFrom is { } from)
        {
            _index.Remove(target);
            reuse = memory.CopyPrefix(from, target, reuse) ? reuse : 0;
            if (reuse > 0)
            {
                _index.Append(target, prompt.AsSpan(0, reuse));
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

        _index.Touch(target);
        _slots[target].Sequence = sequence;
        sequence.Slot = target;
        sequence.PromptCursor = reuse;
        sequence.Position = reuse;
        sequence.Cached = reuse;
        lock (_statsLock)
        {
            _counters.PromptTokens += prompt.Length;
            _counters.CachedPromptTokens += reuse;
            _counters.Running = _active.Count + 1;
        }
    }

    private bool Idle(int slot) => _slots[slot].Sequence is null;

    // One buffer: the idle slot holding the longest prefix keeps its KV, unless a busy slot holds a longer one: then
    // a free slot takes a copy of that (a copy only tags the cells with one more sequence id).
    private (int Target, int Reuse, int? CopyFrom) PickUnified(int[] prompt)
    {
        var best = _spec.PrefixCache ? _index.FindLongest(prompt) : null;
        var bestIdle = _spec.PrefixCache ? _index.FindLongest(prompt, Idle) : null;
        if (bestIdle is { } own && own.Length >= (best?.Length ?? 0))
        {
            return (own.EntryId, own.Length, null);
        }

        // An empty slot first, else the least recently used idle one (its cached KV is evicted).
        var target = Array.Find(_slots, s => s.Sequence is null && !_index.Contains(s.Id))?.Id
            ?? _index.LeastRecentlyUsed(Idle)
            ?? Array.Find(_slots, s => s.Sequence is null)!.Id;
        return best is { } shared && shared.EntryId != target ? (target, shared.Length, shared.EntryId) : (target, 0, null);
    }

    // Per-slot buffers: an idle slot next to the running ones (filling a gap first), so the running slots stay one
    // run of consecutive ids that llama.cpp decodes in one pass; among those, the one sharing the longest prefix,
    // else the least recently used. A longer prefix elsewhere is copied when it saves at least CopyMinimum tokens.
    private (int Target, int Reuse, int? CopyFrom) PickPerSlot(int[] prompt)
    {
        var anyRunning = _slots.Any(s => s.Sequence is not null);
        int Neighbours(int id) =>
            (id > 0 && !Idle(id - 1) ? 1 : 0) + (id < _slots.Length - 1 && !Idle(id + 1) ? 1 : 0);
        var most = 0;
        foreach (var slot in _slots)
        {
            if (slot.Sequence is null)
            {
                most = Math.Max(most, Neighbours(slot.Id));
            }
        }

        bool Candidate(int id) => Idle(id) && (!anyRunning || Neighbours(id) == most);
        var own = _spec.PrefixCache ? _index.FindLongest(prompt, Candidate) : null;
        var target = own?.EntryId
            ?? Array.Find(_slots, s => Candidate(s.Id) && !_index.Contains(s.Id))?.Id
            ?? _index.LeastRecentlyUsed(Candidate)
            ?? Array.Find(_slots, s => Candidate(s.Id))!.Id;
        var reuse = own?.Length ?? 0;
        var best = _spec.PrefixCache ? _index.FindLongest(prompt) : null;
        return best is { } shared && shared.EntryId != target && shared.Length - reuse >= CopyMinimum
            ? (target, shared.Length, shared.EntryId)
            : (target, reuse, null);
    }

    private void Step()
    {
        var batch = _batch!;
        batch.Clear();
        var budget = batch.Capacity;
        var inStep = _inStep;
        inStep.Clear();

        // Generating sequences first: one token each, so they advance every step whatever prompts arrive.
        foreach (var sequence in _active)
        {
            if (sequence.PendingToken is not null)
            {
                sequence.StepTokens = 1;
                budget--;
                inStep.Add(sequence);
            }
        }

        // Then prompts, oldest first, up to the batch size. Staggered, more prompts join only while the step holds
        // few prompt tokens, so a burst gets its first tokens one after the other instead of all after one long step.
        var promptTokens = 0;
        var prompts = 0;
        var stagger = _spec.StaggersPrompts;
        foreach (var sequence in _active)
        {
            if (budget == 0 || (stagger && promptTokens >= PromptPackTokens))
            {
                break;
            }

            if (sequence.PendingToken is null && sequence.PromptCursor < sequence.Prompt.Length)
            {
                var count = Math.Min(sequence.Prompt.Length - sequence.PromptCursor, budget);
                sequence.StepTokens = count;
                budget -= count;
                promptTokens += count;
                prompts++;
                inStep.Add(sequence);
            }
        }

        if (inStep.Count == 0)
        {
            return;
        }

        // In slot order: llama.cpp splits a batch over per-slot buffers into one pass per run of consecutive ids.
        inStep.Sort(static (a, b) => a.Slot.CompareTo(b.Slot));
        foreach (var sequence in inStep)
        {
            if (sequence.PendingToken is { } token)
            {
                sequence.OutputIndex = batch.Add(token, sequence.Position, sequence.Slot, output: true);
                continue;
            }

            var count = sequence.StepTokens;
            var completes = sequence.PromptCursor + count == sequence.Prompt.Length;
            var last = -1;
            for (var i = 0; i < count; i++)
            {
                last = batch.Add(sequence.Prompt[sequence.PromptCursor + i], sequence.Position + i, sequence.Slot, output: completes && i == count - 1);
            }

            sequence.OutputIndex = completes ? last : -1;
        }

        var status = _context!.TryDecode(batch);
        if (status == 1 && EvictIdleCaches())
        {
            status = _context.TryDecode(batch);
        }

        if (status != 0)
        {
            var error = new LlmException(LlmErrorKind.Internal, $"llama_decode failed with status {status} on a batch of {batch.Count} tokens", code: "engine_error");
            foreach (var sequence in inStep)
            {
                Fail(sequence, error);
            }

            return;
        }

        lock (_statsLock)
        {
            _counters.Steps++;
            _counters.BatchTokens += batch.Count;
            _counters.BatchSequences += inStep.Count;
            _counters.MultiSequenceSteps += inStep.Count > 1 ? 1 : 0;
            _counters.MaxSequencesPerStep = Math.Max(_counters.MaxSequencesPerStep, inStep.Count);
            _counters.PromptSteps += prompts > 0 ? 1 : 0;
            _counters.MaxPromptsPerStep = Math.Max(_counters.MaxPromptsPerStep, prompts);
        }

        foreach (var sequence in inStep)
        {
            // The decoded tokens are in the KV cache now: record them for prefix matching.
            if (sequence.PendingToken is { } token)
            {
                _index.Append(sequence.Slot, token);
                sequence.PendingToken = null;
            }
            else
            {
                _index.Append(sequence.Slot, sequence.Prompt.AsSpan(sequence.PromptCursor, sequence.StepTokens));
                sequence.PromptCursor += sequence.StepTokens;
            }

            sequence.Position += sequence.StepTokens;
            if (sequence.OutputIndex >= 0)
            {
                Sample(sequence);
            }
        }

        lock (_statsLock)
        {
            _counters.KvCellsUsed = KvCellsUsed();
        }
    }

    private void Sample(Sequence sequence)
    {
        var context = _context!;
        if (sequence.Sampler.Sample(context, sequence.OutputIndex, out var token) is not LlamaSampleOutcome.Token and var outcome)
        {
            EndConstrained(sequence, outcome);
            return;
        }

        if (_endTokenSet.Contains(token))
        {
            Finish(sequence, FinishReason.Stop, "", null);
            return;
        }

        sequence.Generated++;
        sequence.Request.Progress?.TokenGenerated();
        lock (_statsLock)
        {
            _counters.GeneratedTokens++;
        }

        TokenLogprob? logprob = null;
        if (sequence.Request.Logprobs)
        {
            logprob = Logprob(context.GetLogits(sequence.OutputIndex), token, sequence.Request.TopLogprobs);
        }

        var text = sequence.Stop.Push(sequence.Detokenizer.Append(token));
        if (sequence.Stop.Stopped)
        {
            Finish(sequence, FinishReason.Stop, text, logprob);
            return;
        }

        if (sequence.Generated >= sequence.Request.MaxTokens)
        {
            Finish(sequence, FinishReason.Length, text, logprob);
            return;
        }

        if (text.Length > 0 || logprob is not null)
        {
            sequence.Events.Writer.TryWrite(new GenerationEvent { Text = text, Logprobs = logprob is null ? null : [logprob] });
        }

        sequence.PendingToken = token;
    }

    // The grammar has nothing left to allow: finished is a stop (even with the end banned), anything else is the caller's.
    private void EndConstrained(Sequence sequence, LlamaSampleOutcome outcome)
    {
        if (outcome == LlamaSampleOutcome.GrammarComplete)
        {
            Finish(sequence, FinishReason.Stop, "", null);
            return;
        }

        Fail(sequence, outcome == LlamaSampleOutcome.AllowedTokensBanned
            ? LlmException.Invalid($"'logit_bias' bans every token the response format allows after {sequence.Generated} generated tokens", "logit_bias")
            : LlmException.Invalid($"the response format allows no token of this model's vocabulary after {sequence.Generated} generated tokens", "response_format"));
    }

    private TokenLogprob Logprob(ReadOnlySpan<float> logits, int token, int top)
    {
        var alternatives = LlamaLogits.Top(logits, top).Select(t => Alternative(t.Token, t.LogProbability)).ToArray();
        var bytes = _model.Tokenizer.GetPieceBytes(token);
        return new TokenLogprob(token, Encoding.UTF8.GetString(bytes), bytes, LlamaLogits.LogProbability(logits, token), alternatives);
    }

    private TopLogprob Alternative(int token, float logprob)
    {
        var bytes = _model.Tokenizer.GetPieceBytes(token);
        return new TopLogprob(token, Encoding.UTF8.GetString(bytes), bytes, logprob);
    }

    private void Finish(Sequence sequence, FinishReason reason, string text, TokenLogprob? logprob)
    {
        if (!sequence.Stop.Stopped)
        {
            // The generation ended: release what the detokenizer and the stop matcher were holding back.
            text += sequence.Stop.Push(sequence.Detokenizer.Flush());
            text += sequence.Stop.Flush();
        }

        sequence.Events.Writer.TryWrite(new GenerationEvent
        {
            Text = text,
            Logprobs = logprob is null ? null : [logprob],
            Finish = reason,
            Usage = new LlmUsage(sequence.Prompt.Length, sequence.Generated, sequence.Cached),
        });
        sequence.Events.Writer.TryComplete();
        Release(sequence, cancelled: false);
    }

    private void Fail(Sequence sequence, Exception error)
    {
        // Its KV may be half written: forget it.
        _context!.Memory.Remove(sequence.Slot);
        _index.Remove(sequence.Slot);
        sequence.Events.Writer.TryComplete(error);
        Release(sequence, cancelled: false);
    }

    // The slot keeps the sequence's KV (a prefix for later requests); the request is done.
    private void Release(Sequence sequence, bool cancelled)
    {
        if (Interlocked.Exchange(ref sequence.Done, 1) != 0)
        {
            return;
        }

        _active.Remove(sequence);
        Interlocked.Decrement(ref _running);
        if (sequence.Slot >= 0)
        {
            _slots[sequence.Slot].Sequence = null;
            _index.Touch(sequence.Slot);
        }

        sequence.Sampler.Dispose();
        lock (_statsLock)
        {
            _counters.CompletedRequests++;
            _counters.CancelledRequests += cancelled ? 1 : 0;
            _counters.Running = _active.Count;
            _counters.KvCellsUsed = KvCellsUsed();
        }
    }

    // Shared prefixes share cells in the unified cache, as they share nodes in the index; per-slot buffers each
    // hold their own copy.
    private int KvCellsUsed()
    {
        if (_spec.UnifiedKvCache)
        {
            return _index.NodeCount;
        }

        var cells = 0;
        foreach (var slot in _slots)
        {
            cells += _index.LengthOf(slot.Id); // a plain loop: this runs every step
        }

        return cells;
    }

    private bool EvictIdleCaches()
    {
        var evicted = false;
        foreach (var slot in _slots)
        {
            if (slot.Sequence is null && _index.LengthOf(slot.Id) > 0)
            {
                _context!.Memory.Remove(slot.Id);
                _index.Remove(slot.Id);
                evicted = true;
            }
        }

        return evicted;
    }

    // ---- embeddings: their own context (embeddings on, pooled), one batch of several inputs at a time ----
    private IReadOnlyList<float[]> Embed(IReadOnlyList<IReadOnlyList<int>> inputs, bool normalize, CancellationToken cancellationToken)
    {
        var context = _embedContext ??= CreateEmbeddingContext();
        var results = new float[inputs.Count][];
        using var batch = new LlamaBatch(context.BatchSize);
        var next = 0;
        while (next < inputs.Count)
        {
            batch.Clear();
            var first = next;
            var sequences = 0;
            while (next < inputs.Count && sequences < context.SequenceCount && batch.Count + inputs[next].Count <= batch.Capacity)
            {
                var tokens = inputs[next];
                if (tokens.Count == 0)
                {
                    throw LlmException.Invalid($"input {next} has no tokens", "input");
                }

                for (var i = 0; i < tokens.Count; i++)
                {
                    batch.Add(tokens[i], i, sequences, output: true);
                }

                next++;
                sequences++;
            }

            if (sequences == 0)
            {
                throw new LlmException(LlmErrorKind.ContextOverflow, $"input {next} has {inputs[next].Count} tokens; embeddings take at most {batch.Capacity}", "input", "context_length_exceeded");
            }

            try
            {
                if (_model.HasEncoder && !_model.HasDecoder)
                {
                    context.Encode(batch, cancellationToken);
                }
                else
                {
                    context.Decode(batch, cancellationToken);
                }

                for (var s = 0; s < sequences; s++)
                {
                    var vector = context.GetSequenceEmbeddings(s);
                    results[first + s] = normalize ? Normalize(vector) : vector;
                }
            }
            finally
            {
                context.Memory.Clear();
            }
        }

        return results;
    }

    private LlamaContext CreateEmbeddingContext()
    {
        var size = (uint)Math.Max(_spec.ContextPerSlot, 512);
        var options = new LlamaContextOptions
        {
            ContextSize = size,
            BatchSize = size,
            MicroBatchSize = size,
            SequenceCount = (uint)Math.Min(16, LlamaBackend.MaxParallelSequences),
            Threads = _threads,
            BatchThreads = _threads,
            Embeddings = true,
            UnifiedKvCache = true,
        };
        var context = _model.CreateContext(options);
        if (context.PoolingType == LlamaPoolingType.None)
        {
            // A generative model pools nothing by default; mean pooling gives one vector per input.
            context.Dispose();
            context = _model.CreateContext(options with { PoolingType = LlamaPoolingType.Mean });
        }

        return context;
    }

    private static float[] Normalize(float[] vector)
    {
        double sum = 0;
        foreach (var v in vector)
        {
            sum += (double)v * v;
        }

        if (sum > 0)
        {
            var scale = (float)(1 / Math.Sqrt(sum));
            for (var i = 0; i < vector.Length; i++)
            {
                vector[i] *= scale;
            }
        }

        return vector;
    }

    // Written by the loop thread under _statsLock, read by GetStatistics.
    private sealed class Counters
    {
        public long Steps;
        public long BatchTokens;
        public long BatchSequences;
        public long MultiSequenceSteps;
        public int MaxSequencesPerStep;
        public long PromptSteps;
        public int MaxPromptsPerStep;
        public long PromptTokens;
        public long CachedPromptTokens;
        public long GeneratedTokens;
        public long CompletedRequests;
        public long CancelledRequests;
        public int Running;
        public int KvCellsUsed;
    }

    private sealed class Slot(int id)
    {
        public int Id { get; } = id;

        public Sequence? Sequence { get; set; }
    }

    private sealed class Sequence(GenerationRequest request, LlamaSequenceSampler sampler, StreamingDetokenizer detokenizer, StopSequenceMatcher stop)
    {
        public int Done;

        public GenerationRequest Request { get; } = request;

        public int[] Prompt { get; } = [.. request.PromptTokens];

        public LlamaSequenceSampler Sampler { get; } = sampler;

        public StreamingDetokenizer Detokenizer { get; } = detokenizer;

        public StopSequenceMatcher Stop { get; } = stop;

        public Channel<GenerationEvent> Events { get; } = Channel.CreateUnbounded<GenerationEvent>(
            new UnboundedChannelOptions { SingleReader = true, SingleWriter = true, AllowSynchronousContinuations = false });

        public CancellationTokenRegistration Registration { get; set; }

        public volatile bool Cancelled;

        public int Slot { get; set; } = -1;

        public int PromptCursor { get; set; }

        public int Position { get; set; }

        public int? PendingToken { get; set; }

        public int Generated { get; set; }

        public int Cached { get; set; }

        public int OutputIndex { get; set; } = -1;

        public int StepTokens { get; set; }
    }
}
