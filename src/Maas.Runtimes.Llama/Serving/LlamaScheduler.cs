using System.Diagnostics;
using System.Text;
using Maas.Core.Llm;
using Microsoft.Extensions.Logging;

namespace Maas.Runtimes.Llama.Serving;

/// <summary>
/// The batch loop: a thread that owns the generation context, admits waiting requests into slots and, every step,
/// decodes ONE batch holding the next token of each generating sequence plus a chunk of prompt for new ones, then
/// samples each sequence with its own sampler chain.
/// </summary>
internal sealed class LlamaScheduler : IDisposable
{
    private const int SharedPrefixMinimum = 32;

    // The most prompt tokens a step decodes of a prompt being scored (GenerationRequest.PromptLogprobs): each is an
    // output, and llama.cpp keeps a vocabulary's worth of logits per output of a decode (64 x 150k floats: 38 MB), so
    // this bounds that buffer whatever the batch size; each chunk's logprobs are read right after its decode.
    private const int ScoredChunkTokens = 64;

    private static readonly Action<ILogger, string, string, Exception?> RequestLog = LoggerMessage.Define<string, string>(
        LogLevel.Debug,
        new EventId(3, "GenerationTimeline"),
        "Request {RequestId}: {Timeline}");

    private static readonly Action<ILogger, int, int, int, int, double, double, Exception?> StepLog = LoggerMessage.Define<int, int, int, int, double, double>(
        LogLevel.Debug,
        new EventId(4, "PromptStep"),
        "Step: {Generating} generating, {Prompts} prompts of {PromptTokens} tokens, {Copies} prefixes copied between slots before it; decode {DecodeMs:F2} ms, {BetweenMs:F2} ms " +
        "since the last decode ended");

    // How long the loop stands idle before it makes spare state buffers: longer than the gap between a closed-loop
    // client's requests, so that work is done between bursts rather than in a request's way.
    private static readonly TimeSpan IdleBeforeSpareBuffers = TimeSpan.FromMilliseconds(100);

    private readonly LlmModelSpec _spec;
    private readonly LlamaModel _model;
    private readonly LlamaContext _context;
    private readonly LlamaBatch _batch;
    private readonly LlamaKvCache _cache;
    private readonly LlamaSamplerFactory _samplers;
    private readonly LlamaEngineCounters _counters;
    private readonly ILogger _logger;
    private readonly List<LlamaSequence> _active = [];
    private readonly List<LlamaSequence> _deferred = [];
    private readonly List<LlamaSequence> _inStep = [];
    private readonly List<LlamaSequence> _pending = [];
    private readonly PromptStepPlanner _prompts;
    private readonly LlmRequestQueue<LlamaSequence> _queue;
    private readonly ManualResetEventSlim _wake = new(false);
    private readonly Thread _loop;
    private volatile bool _stopping;
    private int _running;
    private int _deferredCount;
    private long _lastDecodeEnd;

    public LlamaScheduler(LlmModelSpec spec, LlamaModel model, int threads, LlamaSamplerFactory samplers, LlamaEngineCounters counters, ILogger logger)
    {
        _spec = spec;
        _logger = logger;
        _model = model;
        _samplers = samplers;
        _counters = counters;
        _queue = new LlmRequestQueue<LlamaSequence>(spec.QueueLimit);
        _prompts = new PromptStepPlanner(spec.StaggersPrompts, spec.PromptChunkTokens, spec.PromptBurstPrompts);
        var batchSize = Math.Max(spec.BatchSize, spec.Slots);
        _context = model.CreateContext(new LlamaContextOptions
        {
            ContextSize = (uint)(spec.Slots * spec.ContextPerSlot),
            BatchSize = (uint)batchSize,
            MicroBatchSize = (uint)batchSize,
            SequenceCount = (uint)spec.Slots,
            Threads = threads,
            BatchThreads = threads,
            UnifiedKvCache = spec.UnifiedKvCache,
            Embeddings = false,
        });
        try
        {
            _batch = new LlamaBatch(batchSize);
        }
        catch
        {
            _context.Dispose();
            throw;
        }

        _cache = new LlamaKvCache(_context, spec, model.Tokenizer, counters, logger);
        _loop = new Thread(Run) { IsBackground = true, Name = $"llm {spec.Name} v{spec.Version}" };
        _loop.Start();
    }

    /// <summary>KV cells in the context.</summary>
    public int KvCells => _context.ContextSize;

    /// <summary>Bytes of the KV cache: keys and values (16-bit) of every layer for every cell.</summary>
    public long KvBytes => 2L * 2 * _model.LayerCount * (_model.EmbeddingLength / Math.Max(1, _model.HeadCount) * _model.KeyValueHeadCount) * _context.ContextSize;

    /// <summary>Requests waiting for a slot.</summary>
    public int Waiting => _queue.Count + Volatile.Read(ref _deferredCount);

    private volatile Action? _beforeStep;

    /// <summary>Tests only: runs on the loop thread before every decode step (a test pauses the engine there).</summary>
    internal Action? BeforeStep
    {
        get => _beforeStep;
        set => _beforeStep = value;
    }

    /// <summary>Queues requests that start together; throws <see cref="LlmException"/> (none queued) when the queue cannot hold them all.</summary>
    public void EnqueueAll(IReadOnlyList<LlamaSequence> sequences)
    {
        var now = Stopwatch.GetTimestamp();
        foreach (var sequence in sequences)
        {
            sequence.QueuedAt = now;
        }

        _queue.EnqueueAll(sequences, _spec.Slots - Volatile.Read(ref _running));
        _wake.Set();
    }

    /// <summary>Ends a request: at once while it waits, at the next step while it runs.</summary>
    public void Cancel(LlamaSequence sequence)
    {
        if (Volatile.Read(ref sequence.Done) != 0)
        {
            return;
        }

        sequence.Cancelled = true;
        if (_queue.Remove(sequence))
        {
            // Never admitted: nothing on the loop thread refers to it.
            if (sequence.TryEnd())
            {
                sequence.Sampler.Dispose();
                sequence.Events.Writer.TryComplete(new OperationCanceledException("the request was cancelled while waiting for a slot"));
                _counters.CancelledWaiting();
            }
        }

        if (!_stopping)
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

    /// <summary>Stops the loop: running and waiting requests get "unloading".</summary>
    public async Task StopAsync()
    {
        _stopping = true;
        _wake.Set();
        await Task.Run(_loop.Join).ConfigureAwait(false);
    }

    /// <summary>Frees the context; call after <see cref="StopAsync"/>.</summary>
    public void Dispose()
    {
        _cache.Dispose();
        _batch.Dispose();
        _context.Dispose();
        _wake.Dispose();
    }

    // ---- everything below runs on the loop thread only ----
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
                    WaitIdle();
                    continue;
                }

                _beforeStep?.Invoke();
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
            if (sequence.TryEnd())
            {
                sequence.Sampler.Dispose();
                sequence.Events.Writer.TryComplete(unloading);
            }
        }
    }

    // Nothing to run: once nothing has arrived for a moment, spare buffers for the host cache's next saves are made one
    // at a time until work arrives or the pool is full, so a save under load writes into memory already faulted in
    // (first writes to new memory cost several times the copy itself).
    private void WaitIdle()
    {
        if (_wake.Wait(IdleBeforeSpareBuffers))
        {
            return;
        }

        while (!_wake.IsSet && !_stopping && _cache.PrepareSaveBuffer())
        {
        }

        _wake.Wait();
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
        for (var i = 0; i < _deferred.Count && _active.Count < _spec.Slots; i++)
        {
            var sequence = _deferred[i];
            if (sequence.Cancelled || !WaitsForSharedPrefix(sequence))
            {
                _deferred.RemoveAt(i--);
                Start(sequence);
            }
        }

        while (_active.Count < _spec.Slots && _queue.TryDequeue(out var sequence))
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
            _cache.TrimIdle();
        }
    }

    private void Start(LlamaSequence sequence)
    {
        if (sequence.Cancelled)
        {
            if (sequence.TryEnd())
            {
                sequence.Sampler.Dispose();
                sequence.Events.Writer.TryComplete(new OperationCanceledException("the request was cancelled"));
                _counters.CancelledWaiting();
            }

            return;
        }

        var placing = Stopwatch.GetTimestamp();
        _cache.Place(sequence);
        sequence.PlacedAt = Stopwatch.GetTimestamp();
        sequence.PlaceTicks = sequence.PlacedAt - placing;
        _counters.Placed(sequence.PromptLength, sequence.Cached, _active.Count + 1);
        sequence.Request.Progress?.Admitted();
        _active.Add(sequence);
        Interlocked.Increment(ref _running);
        if (sequence.PromptCursor == sequence.Prompt.Length)
        {
            // The slot kept the logits after this very prompt: the first token comes without a decode.
            if (sequence.Request.MaxTokens == 0)
            {
                Finish(sequence, FinishReason.Length, "");
                return;
            }

            Sample(sequence, _cache.OutputLogits(sequence.Slot));
        }
    }

    // True while a running sequence is still decoding a prompt prefix this one shares (at least
    // SharedPrefixMinimum tokens beyond what the cache holds): waiting a few steps and copying that KV beats
    // computing the same prefix twice in the same batches (a burst of requests with one system prompt).
    private bool WaitsForSharedPrefix(LlamaSequence sequence)
    {
        if (sequence.ScoresPrompt)
        {
            return false; // it reuses no KV: nothing to wait for
        }

        var cached = _cache.LongestCached(sequence.Prompt);
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

    private void Step()
    {
        var batch = _batch;
        batch.Clear();
        var inStep = _inStep;
        inStep.Clear();
        var budget = batch.Capacity - AddGenerating(inStep);
        var (prompts, promptTokens) = AddPromptChunks(inStep, budget);
        if (inStep.Count == 0)
        {
            return;
        }

        // In slot order: llama.cpp splits a batch over per-slot buffers into one pass per run of consecutive ids.
        inStep.Sort(static (a, b) => a.Slot.CompareTo(b.Slot));
        FillBatch(batch, inStep);

        var decoding = Stopwatch.GetTimestamp();
        var status = _context.TryDecode(batch);
        if (status == 1 && _cache.EvictIdle())
        {
            status = _context.TryDecode(batch);
        }

        var decodeTicks = Stopwatch.GetTimestamp() - decoding;
        if (status != 0)
        {
            var error = new LlmException(LlmErrorKind.Internal, $"llama_decode failed with status {status} on a batch of {batch.Count} tokens", code: "engine_error");
            foreach (var sequence in inStep)
            {
                Fail(sequence, error);
            }

            return;
        }

        var passes = Passes(inStep);
        _counters.Step(batch.Count, inStep.Count, prompts, promptTokens, passes);
        var copies = _cache.TakeCopies();
        if ((prompts > 0 || copies > 0) && _logger.IsEnabled(LogLevel.Debug))
        {
            // Steps with prompt work only (a step of generating tokens alone is the common case and would drown the log).
            static double Ms(long ticks) => ticks * 1000.0 / Stopwatch.Frequency;
            StepLog(_logger, inStep.Count - prompts, prompts, promptTokens, copies, Ms(decodeTicks), _lastDecodeEnd == 0 ? 0 : Ms(decoding - _lastDecodeEnd), null);
        }

        _lastDecodeEnd = decoding + decodeTicks;
        foreach (var sequence in inStep)
        {
            Advance(sequence, decodeTicks);
        }

        _counters.KvCells(_cache.CellsUsed());
    }

    // Generating sequences go first: one token each, so they advance every step whatever prompts arrive.
    private int AddGenerating(List<LlamaSequence> inStep)
    {
        var added = 0;
        foreach (var sequence in _active)
        {
            if (sequence.PendingToken is not null)
            {
                sequence.StepTokens = 1;
                added++;
                inStep.Add(sequence);
            }
        }

        return added;
    }

    // Then prompts, as the prompt step planner says: all of them oldest first (batched), or fewest tokens left first up
    // to a token budget and in chunks (staggered), so a prompt that is mostly cached gets its first token without
    // waiting for long cold ones.
    private (int Prompts, int PromptTokens) AddPromptChunks(List<LlamaSequence> inStep, int budget)
    {
        var pending = _pending;
        pending.Clear();
        foreach (var sequence in _active)
        {
            if (sequence.PendingToken is null && sequence.PromptCursor < sequence.Prompt.Length)
            {
                pending.Add(sequence);
            }
        }

        if (pending.Count == 0)
        {
            return (0, 0);
        }

        Span<PendingPrompt> demands = pending.Count <= 256 ? stackalloc PendingPrompt[pending.Count] : new PendingPrompt[pending.Count];
        Span<int> chunks = pending.Count <= 256 ? stackalloc int[pending.Count] : new int[pending.Count];
        for (var i = 0; i < pending.Count; i++)
        {
            demands[i] = new PendingPrompt(pending[i].Prompt.Length - pending[i].PromptCursor, pending[i].PassedOver, Cold: pending[i].Cached * 2 < pending[i].PromptLength);
        }

        var prompts = _prompts.Plan(demands, budget, chunks);
        var promptTokens = 0;
        for (var i = 0; i < pending.Count; i++)
        {
            var sequence = pending[i];
            if (chunks[i] == 0)
            {
                sequence.PassedOver++;
                continue;
            }

            sequence.PassedOver = 0;
            if (sequence.ScoresPrompt)
            {
                chunks[i] = Math.Min(chunks[i], ScoredChunkTokens);
            }

            sequence.StepTokens = chunks[i];
            promptTokens += chunks[i];
            inStep.Add(sequence);
        }

        return (prompts, promptTokens);
    }

    // Each sequence's tokens of this step; logits only for a generating token and a prompt's last one (every prompt
    // token of a prompt being scored).
    private static void FillBatch(LlamaBatch batch, List<LlamaSequence> inStep)
    {
        foreach (var sequence in inStep)
        {
            if (sequence.PendingToken is { } token)
            {
                sequence.OutputIndex = batch.Add(token, sequence.Position, sequence.Slot, output: true);
                continue;
            }

            if (sequence.ScoresPrompt)
            {
                FillScoredChunk(batch, sequence);
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
    }

    private static void FillScoredChunk(LlamaBatch batch, LlamaSequence sequence)
    {
        var count = sequence.StepTokens;
        var at = -1;
        for (var i = 0; i < count; i++)
        {
            at = batch.Add(sequence.Prompt[sequence.PromptCursor + i], sequence.Position + i, sequence.Slot, output: true);
            if (i == 0)
            {
                sequence.PromptOutputStart = at;
            }
        }

        sequence.OutputIndex = sequence.PromptCursor + count == sequence.Prompt.Length ? at : -1;
    }

    // After a decoded step: the tokens are in the KV cache (recorded for prefix matching), and a sequence with logits samples.
    private void Advance(LlamaSequence sequence, long decodeTicks)
    {
        sequence.DecodeTicks += decodeTicks;
        sequence.Steps++;
        if (sequence.PendingToken is { } token)
        {
            _cache.Appended(sequence.Slot, [token]);
            sequence.PendingToken = null;
        }
        else
        {
            if (sequence.ScoresPrompt)
            {
                ScoreChunk(sequence);
            }

            _cache.Appended(sequence.Slot, sequence.Prompt.AsSpan(sequence.PromptCursor, sequence.StepTokens));
            sequence.PromptCursor += sequence.StepTokens;
        }

        sequence.Position += sequence.StepTokens;
        if (sequence.OutputIndex < 0)
        {
            return;
        }

        if (sequence.Generated == 0)
        {
            _cache.PromptEvaluated(sequence.Slot, sequence.Prompt.Length, _context.GetLogits(sequence.OutputIndex));
            if (sequence.ScoresPrompt)
            {
                // The prompt's logprobs go out whole, ahead of any generated text.
                sequence.Events.Writer.TryWrite(new GenerationEvent { PromptLogprobs = sequence.PromptLogprobs });
                sequence.PromptLogprobs = null;
            }

            if (sequence.Request.MaxTokens == 0)
            {
                Finish(sequence, FinishReason.Length, "");
                return;
            }
        }

        Sample(sequence);
    }

    // The logprobs of the prompt tokens this step's chunk predicts, read from its logits before the next decode: the
    // logits at prompt position p score token p + 1 (the chunk's last scores the next chunk's first; the prompt's last
    // position starts the generation instead). The first prompt token has nothing before it: unscored.
    private void ScoreChunk(LlamaSequence sequence)
    {
        var prompt = sequence.Prompt;
        var start = sequence.PromptCursor;
        var scored = sequence.PromptLogprobs ??= new List<TokenLogprob>(prompt.Length);
        if (start == 0)
        {
            var bytes = _model.Tokenizer.GetPieceBytes(prompt[0]);
            scored.Add(new TokenLogprob(prompt[0], Encoding.UTF8.GetString(bytes), bytes, float.NaN, []));
        }

        var top = sequence.Request.TopLogprobs;
        var end = Math.Min(sequence.StepTokens, prompt.Length - 1 - start);
        for (var i = 0; i < end; i++)
        {
            scored.Add(Logprob(_context.GetLogits(sequence.PromptOutputStart + i), prompt[start + i + 1], top));
        }
    }

    // The micro-batches llama.cpp splits this step into (inStep is in batch order).
    private int Passes(List<LlamaSequence> inStep)
    {
        Span<int> slots = stackalloc int[inStep.Count];
        Span<int> tokens = stackalloc int[inStep.Count];
        for (var i = 0; i < inStep.Count; i++)
        {
            slots[i] = inStep[i].Slot;
            tokens[i] = inStep[i].StepTokens;
        }

        return LlamaMicroBatches.Count(slots, tokens, _context.MicroBatchSize, _context.UnifiedKvCache);
    }

    // Samples the next token from the logits of the sequence's last decoded token, or from those its slot kept after
    // the same prompt (cached).
    private void Sample(LlamaSequence sequence, ReadOnlySpan<float> cached = default)
    {
        var picked = cached.IsEmpty ? sequence.Sampler.Sample(_context, sequence.OutputIndex, out var token) : sequence.Sampler.Sample(cached, out token);
        if (picked is not LlamaSampleOutcome.Token and var outcome)
        {
            EndConstrained(sequence, outcome);
            return;
        }

        // Sampled but never decoded when the request ends here: the slot keeps it as the answer's last token.
        sequence.PendingToken = token;
        if (_samplers.IsEnd(token))
        {
            Finish(sequence, FinishReason.Stop, "");
            return;
        }

        if (sequence.Generated++ == 0)
        {
            sequence.FirstTokenAt = Stopwatch.GetTimestamp();
        }

        sequence.Request.Progress?.TokenGenerated();
        _counters.Generated();

        var piece = sequence.Detokenizer.Append(token);
        sequence.KeepToken(token);
        if (sequence.Request.Logprobs)
        {
            sequence.HoldLogprob(Logprob(cached.IsEmpty ? _context.GetLogits(sequence.OutputIndex) : cached, token, sequence.Request.TopLogprobs), piece.Length);
        }
        else
        {
            sequence.ProducedChars += piece.Length;
        }

        var text = sequence.Stop.Push(piece);
        sequence.ReleasedChars += text.Length;
        if (sequence.Stop.Stopped)
        {
            Finish(sequence, FinishReason.Stop, text);
            return;
        }

        if (sequence.Generated >= sequence.Request.MaxTokens)
        {
            Finish(sequence, FinishReason.Length, text);
            return;
        }

        // A token's logprob goes out with the last of its text, never ahead of it (text that may begin a stop string waits).
        var logprobs = sequence.Request.Logprobs ? sequence.ReleaseLogprobs(final: false) : null;
        if (text.Length > 0 || logprobs is not null)
        {
            sequence.Events.Writer.TryWrite(new GenerationEvent { Text = text, Logprobs = logprobs });
        }
    }

    // The grammar has nothing left to allow: finished is a stop (even with the end banned), anything else is the caller's.
    private void EndConstrained(LlamaSequence sequence, LlamaSampleOutcome outcome)
    {
        if (outcome == LlamaSampleOutcome.GrammarComplete)
        {
            Finish(sequence, FinishReason.Stop, "");
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

    private void Finish(LlamaSequence sequence, FinishReason reason, string text)
    {
        if (!sequence.Stop.Stopped)
        {
            // The generation ended: release what the detokenizer and the stop matcher were holding back.
            var rest = sequence.Stop.Push(sequence.Detokenizer.Flush());
            rest += sequence.Stop.Flush();
            sequence.ReleasedChars += rest.Length;
            text += rest;
        }

        sequence.Events.Writer.TryWrite(new GenerationEvent
        {
            Text = text,
            // Logprobs of the text returned: the tokens of a stop string cut from it are dropped with it.
            Logprobs = sequence.Request.Logprobs ? sequence.ReleaseLogprobs(final: true) : null,
            Finish = reason,
            Tokens = sequence.GeneratedTokens(),
            Usage = new LlmUsage(sequence.PromptLength, sequence.Generated, sequence.Cached),
        });
        // Counted as ended before the caller's stream ends, so statistics read after a request never still show it.
        Release(sequence, cancelled: false);
        sequence.Events.Writer.TryComplete();
    }

    private void Fail(LlamaSequence sequence, Exception error)
    {
        // Its KV may be half written: forget it, and any token it sampled.
        _cache.Forget(sequence.Slot);
        sequence.PendingToken = null;
        Release(sequence, cancelled: false);
        sequence.Events.Writer.TryComplete(error);
    }

    // The slot keeps the sequence's KV (a prefix for later requests); the request is done.
    private void Release(LlamaSequence sequence, bool cancelled)
    {
        if (!sequence.TryEnd())
        {
            return;
        }

        _active.Remove(sequence);
        Interlocked.Decrement(ref _running);
        if (sequence.Slot >= 0)
        {
            _cache.Vacate(sequence.Slot, sequence.PendingToken);
        }

        sequence.Sampler.Dispose();
        _counters.Released(cancelled, _active.Count, _cache.CellsUsed());
        if (_logger.IsEnabled(LogLevel.Debug))
        {
            RequestLog(_logger, sequence.Request.RequestId, Timeline(sequence, cancelled), null);
        }
    }

    // Where a request's time went in the engine: the queue, placement (any host-cache save or restore included), the
    // decodes of the steps it was in, and the rest (sampling, batch building, admitting others, steps without it).
    private static string Timeline(LlamaSequence sequence, bool cancelled)
    {
        var now = Stopwatch.GetTimestamp();
        static double Ms(long ticks) => ticks * 1000.0 / Stopwatch.Frequency;
        var placed = sequence.PlacedAt > 0 ? sequence.PlacedAt : now;
        var text = $"{(cancelled ? "cancelled" : "ended")} in slot {sequence.Slot}; {sequence.PromptLength} prompt tokens, {sequence.Cached} cached ({sequence.CacheSource}); " +
            (sequence.SpelledByText ? $"spelled by text as {sequence.Prompt.Length} tokens; " : "") +
            $"waited {Ms(placed - sequence.QueuedAt):F2} ms for a slot, placed in {Ms(sequence.PlaceTicks):F2} ms; ";
        text += sequence.FirstTokenAt > 0 ? $"first token {Ms(sequence.FirstTokenAt - sequence.QueuedAt):F2} ms after it was queued; " : "no token; ";
        var running = Ms(now - placed);
        var decode = Ms(sequence.DecodeTicks);
        return text + $"{sequence.Generated} tokens in {sequence.Steps} steps over {running:F2} ms, of which its steps' decodes {decode:F2} ms and the rest " +
            $"{running - decode:F2} ms";
    }
}
