using System.Runtime.CompilerServices;
using System.Text;
using Maas.Core.Llm;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Maas.Runtimes.Llama.Serving;

/// <summary>
/// Serves one GGUF model: the facade over its parts, a batch loop (<see cref="LlamaScheduler"/>) with continuous
/// batching over slots, a KV cache manager (<see cref="LlamaKvCache"/>), a sampler factory, an embedder and counters.
/// </summary>
/// <remarks>
/// By default each slot has its own KV buffer (llama.cpp's per-sequence streams, as llama-server runs), so a token's
/// attention walks only its own slot's cells. Finished requests leave their KV in their slot as a cached prefix, and
/// a new request is placed by <see cref="KvSlotPlanner"/> where it reuses most. With
/// <see cref="LlmModelSpec.UnifiedKvCache"/> all slots share one buffer: a prefix cached in any slot is copied into a
/// new request's slot by metadata alone, but every token's attention walks the cells of all slots, so idle slots'
/// prefixes are trimmed to a budget. Either way each slot holds at most <see cref="LlmModelSpec.ContextPerSlot"/>
/// tokens, so the cache never overflows.
/// </remarks>
public sealed class LlamaEngine : ILlmEngine
{
    private readonly LlmModelSpec _spec;
    private readonly LlamaModel _model;
    private readonly LlamaSamplerFactory _samplers;
    private readonly LlamaEngineCounters _counters = new();
    private readonly LlamaScheduler? _scheduler;
    private readonly LlamaEmbedder _embedder;
    private readonly bool _chatFromModel;
    private volatile bool _stopping;
    private int _disposed;

    private LlamaEngine(LlmModelSpec spec, LlamaModel model, ILogger logger)
    {
        _spec = spec;
        _model = model;
        var threads = spec.Threads > 0 ? spec.Threads : Environment.ProcessorCount;
        _samplers = new LlamaSamplerFactory(model);
        _chatFromModel = ModelTemplateWorks(model);
        _embedder = new LlamaEmbedder(model, spec.ContextPerSlot, threads);
        if (model.HasDecoder)
        {
            _scheduler = new LlamaScheduler(spec, model, threads, _samplers, _counters, logger);
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
    public static LlamaEngine Load(LlmModelSpec spec, CancellationToken cancellationToken = default) => Load(spec, null, cancellationToken);

    /// <summary>Loads the model file and starts the engine loop, logging to <paramref name="logger"/>.</summary>
    /// <remarks>
    /// At Debug it logs each request's timeline when it ends (queue, placement, first token, decode and loop time) and
    /// each save to and restore from the host prompt cache (tokens, bytes, time).
    /// </remarks>
    /// <exception cref="LlamaException">llama.cpp refused the file or the context.</exception>
    public static LlamaEngine Load(LlmModelSpec spec, ILogger? logger, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var model = LlamaModel.Load(spec.Path, cancellationToken: cancellationToken);
        try
        {
            return new LlamaEngine(spec, model, logger ?? NullLogger.Instance);
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
        return GenerateTogether([request], cancellationToken)[0];
    }

    /// <inheritdoc />
    /// <remarks>Validation, the sampler chains (grammar included) and the queue check happen here, before the first await.</remarks>
    public IReadOnlyList<IAsyncEnumerable<GenerationEvent>> GenerateTogether(IReadOnlyList<GenerationRequest> requests, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(requests);
        ObjectDisposedException.ThrowIf(_disposed != 0 || _stopping, this);
        if (_scheduler is null)
        {
            throw LlmException.Invalid($"model '{_spec.Name}' is an embedding model and cannot generate text; use /v1/embeddings", "model", "model_not_generative");
        }

        foreach (var request in requests)
        {
            Check(request);
        }

        cancellationToken.ThrowIfCancellationRequested();
        var sequences = new List<LlamaSequence>(requests.Count);
        try
        {
            foreach (var request in requests)
            {
                sequences.Add(new LlamaSequence(request, _samplers.Build(request), _model.Tokenizer.CreateStreamingDetokenizer(), new StopSequenceMatcher(request.Stop)));
            }

            // One queue operation: the loop admits all of them at the same step, or none was queued (queue full).
            _scheduler.EnqueueAll(sequences);
        }
        catch
        {
            foreach (var sequence in sequences)
            {
                sequence.Sampler.Dispose();
            }

            throw;
        }

        var streams = new IAsyncEnumerable<GenerationEvent>[sequences.Count];
        for (var i = 0; i < sequences.Count; i++)
        {
            var sequence = sequences[i];
            sequence.Registration = cancellationToken.Register(() => Cancel(sequence));
            streams[i] = ReadAsync(sequence, cancellationToken);
        }

        return streams;
    }

    /// <inheritdoc />
    public Task<IReadOnlyList<float[]>> EmbedAsync(IReadOnlyList<IReadOnlyList<int>> inputs, bool normalize, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        for (var i = 0; i < inputs.Count; i++)
        {
            CheckVocabulary(inputs[i], "input", $"input {i}");
        }

        return _embedder.EmbedAsync(inputs, normalize, cancellationToken);
    }

    /// <summary>
    /// Tests only: holds the decode loop before its next step until the pause is resumed or disposed, so a generation
    /// the test started cannot end before the test's next steps however fast or busy the host; at most
    /// <paramref name="ceiling"/>, so a failed test cannot leave the loop stopped for good.
    /// </summary>
    internal StepPause PauseSteps(TimeSpan ceiling) =>
        new(_scheduler ?? throw new InvalidOperationException("an embedding-only engine has no decode loop"), ceiling);

    /// <summary>
    /// Tests only: lets the decode loop run <paramref name="steps"/> more steps, then fails the next one with
    /// <paramref name="error"/> as a failing llama_decode would: the requests in flight end with the engine's error and
    /// the loop goes on serving. Makes a failure in the middle of an answer happen at a known point.
    /// </summary>
    internal void FailAfterSteps(int steps, Exception error)
    {
        var scheduler = _scheduler ?? throw new InvalidOperationException("an embedding-only engine has no decode loop");
        var left = steps;
        scheduler.BeforeStep = () =>
        {
            if (left-- > 0)
            {
                return;
            }

            scheduler.BeforeStep = null;
            throw error;
        };
    }

    /// <inheritdoc />
    public LlmEngineStatistics GetStatistics() => _counters.Snapshot(
        _scheduler?.Waiting ?? 0,
        _scheduler?.KvCells ?? 0,
        _scheduler is not null && _spec.PrefixCache ? _spec.PromptCacheBytes : 0,
        _model.SizeBytes + (_scheduler?.KvBytes ?? 0));

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        _stopping = true;
        if (_scheduler is not null)
        {
            await _scheduler.StopAsync().ConfigureAwait(false);
        }

        await _embedder.DisposeAsync().ConfigureAwait(false);
        _scheduler?.Dispose();
        _model.Dispose();
    }

    private void Check(GenerationRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        CheckVocabulary(request.PromptTokens, "prompt", "the prompt");
        foreach (var token in request.Sampling.LogitBias.Keys)
        {
            CheckVocabulary(token, "logit_bias", "'logit_bias'");
        }

        if (request.PromptTokens.Count == 0 || request.PromptTokens.Count + request.MaxTokens > _spec.ContextPerSlot)
        {
            throw new LlmException(LlmErrorKind.ContextOverflow, $"the prompt ({request.PromptTokens.Count} tokens) plus max_tokens ({request.MaxTokens}) must fit the context " +
                $"of {_spec.ContextPerSlot} tokens", "messages", "context_length_exceeded");
        }
    }

    // llama.cpp reads its vocabulary tables at a token id without a bounds check (or throws across the C boundary),
    // and an id llama_decode refuses fails every sequence in that batch, other callers' too: ids that came with a
    // request are checked here, before the request reaches any native call.
    private void CheckVocabulary(IReadOnlyList<int> tokens, string param, string holder)
    {
        foreach (var token in tokens)
        {
            CheckVocabulary(token, param, holder);
        }
    }

    private void CheckVocabulary(int token, string param, string holder)
    {
        if (!_model.Tokenizer.IsValid(token))
        {
            throw LlmException.Invalid(VocabularyMessage(holder, token, _model.VocabularySize), param);
        }
    }

    private static string VocabularyMessage(string holder, int token, int vocabularySize) =>
        $"{holder} holds token id {token}, but the model's vocabulary has {vocabularySize} tokens (ids 0 to {vocabularySize - 1})";

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

    private async IAsyncEnumerable<GenerationEvent> ReadAsync(LlamaSequence sequence, [EnumeratorCancellation] CancellationToken cancellationToken)
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

    private void Cancel(LlamaSequence sequence) => _scheduler?.Cancel(sequence);
}
