using System.Diagnostics;
using System.Diagnostics.Metrics;
using Maas.Core.Llm;
using Maas.Core.Observability;
using Maas.Server.Observability;
using Microsoft.Extensions.Options;

namespace Maas.Server.OpenAi;

/// <summary>
/// LLM serving metrics on this app's "Maas" meter (time to first token, inter-token latency, tokens, each loaded
/// engine's load) and each request's gen-AI span with its queue, engine run and encode children.
/// </summary>
/// <remarks>
/// The meter comes from the app's IMeterFactory, so two servers in one process (tests) never report each other's
/// engines. With Maas:Observability:Metrics off no instrument exists; with Maas:Observability:Tracing off no span.
/// </remarks>
internal sealed class LlmMetrics
{
    /// <summary>Bucket boundaries (seconds) of time to first token: 5 ms to 60 s.</summary>
    public static readonly double[] FirstTokenBuckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

    /// <summary>Bucket boundaries (seconds) of inter-token latency: 1 ms to 5 s.</summary>
    public static readonly double[] InterTokenBuckets = [0.001, 0.0025, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 1, 2.5, 5];

    private readonly Histogram<double>? _timeToFirstToken;
    private readonly Histogram<double>? _interTokenLatency;
    private readonly Counter<long>? _promptTokens;
    private readonly Counter<long>? _cachedPromptTokens;
    private readonly Counter<long>? _generatedTokens;
    private readonly bool _tracing;

    public LlmMetrics(LlmEngineManager manager, IMeterFactory meters, IOptions<ObservabilityOptions> options)
    {
        _tracing = options.Value.Tracing;
        if (!options.Value.Metrics)
        {
            return;
        }

        var meter = meters.Create(MaasTelemetry.Name);
        _timeToFirstToken = meter.CreateHistogram("maas.llm.time_to_first_token", "s", "Time from the request's arrival to its first generated text",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = FirstTokenBuckets });
        _interTokenLatency = meter.CreateHistogram("maas.llm.inter_token_latency", "s", "Time between consecutive pieces of generated text of one choice",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = InterTokenBuckets });
        _promptTokens = meter.CreateCounter<long>("maas.llm.prompt_tokens", "{token}", "Prompt tokens of finished generations");
        _cachedPromptTokens = meter.CreateCounter<long>("maas.llm.cached_prompt_tokens", "{token}", "Prompt tokens reused from the prefix cache instead of being computed");
        _generatedTokens = meter.CreateCounter<long>("maas.llm.generated_tokens", "{token}", "Generated tokens");
        meter.CreateObservableGauge("maas.llm.running_sequences", () => Each(manager, s => s.Running), "{sequence}", "Sequences generating now, per loaded model");
        meter.CreateObservableGauge("maas.llm.waiting_requests", () => Each(manager, s => s.Waiting), "{request}", "Requests waiting for a free slot, per loaded model");
        meter.CreateObservableGauge("maas.llm.kv_cache_fill", () => Each(manager, s => s.KvFill), "1", "Fraction of KV cache cells in use, per loaded model");
        meter.CreateObservableGauge("maas.llm.prefix_cache_hit_ratio", () => Each(manager, s => s.PromptTokens == 0 ? 0 : (double)s.CachedPromptTokens / s.PromptTokens), "1",
            "Share of prompt tokens served from the prefix cache since the model loaded");
        meter.CreateObservableCounter("maas.llm.prompt_cache_hits", () => Each(manager, s => s.PromptCacheHits), "{request}",
            "Requests whose prompt prefix was restored from the host prompt cache, per loaded model");
        meter.CreateObservableCounter("maas.llm.prompt_cache_restored_tokens", () => Each(manager, s => s.PromptCacheRestoredTokens), "{token}",
            "Prompt tokens restored from the host prompt cache instead of being computed, per loaded model");
        meter.CreateObservableGauge("maas.llm.prompt_cache_bytes", () => Each(manager, s => s.PromptCacheBytes), "By",
            "Bytes of prompt KV held in the host prompt cache, per loaded model");
        meter.CreateObservableGauge("maas.llm.memory_bytes", () => Each(manager, s => s.MemoryBytes), "By",
            "Memory footprint (weights, KV cache, host prompt cache), per loaded model");
        meter.CreateObservableGauge("maas.llm.loaded_models", () => manager.Loaded().Count, "{model}", "LLM engines loaded");
    }

    /// <summary>Starts timing (and, when traced, recording) one request.</summary>
    public Timer Start(ResolvedLlm model, HttpContext context, string requestedModel) => new(this, model, context, requestedModel);

    private static IEnumerable<Measurement<T>> Each<T>(LlmEngineManager manager, Func<LlmEngineStatistics, T> read)
        where T : struct =>
        manager.Loaded().Select(e => new Measurement<T>(read(e.Engine.GetStatistics()), Tags(e.Name, e.Version)));

    private static KeyValuePair<string, object?>[] Tags(string model, int version) =>
        [new("model", model), new("version", version)];

    /// <summary>Times the events of one request (all its choices) and emits its spans when it ends.</summary>
    internal sealed class Timer
    {
        private readonly LlmMetrics _metrics;
        private readonly ResolvedLlm _model;
        private readonly string _operation;
        private readonly string _protocol;
        private readonly string _requestedModel;
        private readonly long _started = Stopwatch.GetTimestamp();
        private readonly KeyValuePair<string, object?>[] _tags;
        private readonly ActivityContext _parent;
        private readonly List<Choice> _choices = [];
        private long _prepared;
        private long _firstEvent;
        private long _lastEvent;
        private int _promptTokens;
        private int? _requestedMaxTokens;
        private int _maxTokens;
        private string? _responseId;
        private bool _completed;
        private bool _stream;

        public Timer(LlmMetrics metrics, ResolvedLlm model, HttpContext context, string requestedModel)
        {
            _metrics = metrics;
            _model = model;
            _requestedModel = requestedModel;
            _tags = Tags(model.Spec.Name, model.Spec.Version);
            var path = context.Request.Path.Value ?? "";
            _operation = path.EndsWith("/chat/completions", StringComparison.Ordinal) || path == "/api/chat" ? "chat"
                : path is "/v1/embeddings" or "/api/embed" or "/api/embeddings" ? "embeddings"
                : "text_completion";
            _protocol = Auth.EndpointAccess.ProtocolOf(path);
            if (metrics._tracing && MaasTelemetry.Source.HasListeners() && Activity.Current is { } current)
            {
                _parent = current.Context;
            }
        }

        private bool Traced => _parent != default;

        /// <summary>Notes one prompt's generation requests (called once per prompt, before they are submitted).</summary>
        public void Prepared(GenerationParameters p, int maxTokens, int promptTokens, IReadOnlyList<GenerationRequest> requests)
        {
            _stream = p.Stream;
            if (_prepared == 0)
            {
                _prepared = Stopwatch.GetTimestamp();
            }

            _requestedMaxTokens ??= p.MaxTokens;
            _maxTokens = maxTokens;
            _promptTokens += promptTokens;
            if (requests.Count > 0)
            {
                _responseId ??= requests[0].RequestId.Split('/')[0];
            }

            foreach (var r in requests)
            {
                _choices.Add(new Choice(r.Progress));
            }
        }

        /// <summary>Notes the tokens an embeddings request read (it has no choices).</summary>
        public void Embedded(int promptTokens) => _promptTokens += promptTokens;

        public void Observe(ChoiceEvent e)
        {
            var now = Stopwatch.GetTimestamp();
            if (_firstEvent == 0)
            {
                _firstEvent = now;
            }

            _lastEvent = now;
            var choice = e.Index < _choices.Count ? _choices[e.Index] : null;
            if (e.Event.Text.Length > 0 && choice is not null)
            {
                if (choice.LastText != 0)
                {
                    _metrics._interTokenLatency?.Record(Stopwatch.GetElapsedTime(choice.LastText, now).TotalSeconds, _tags);
                }
                else
                {
                    choice.FirstText = now;
                    _metrics._timeToFirstToken?.Record(Stopwatch.GetElapsedTime(_started, now).TotalSeconds, _tags);
                }

                choice.LastText = now;
            }

            if (e.Event.Finish is { } finish && choice is not null)
            {
                choice.Finished = now;
                choice.Finish = finish;
                choice.Usage = e.Event.Usage;
            }

            if (e.Event.Usage is { } usage)
            {
                _metrics._generatedTokens?.Add(usage.CompletionTokens, _tags);
                _metrics._promptTokens?.Add(usage.PromptTokens, _tags);
                _metrics._cachedPromptTokens?.Add(usage.CachedPromptTokens, _tags);
            }
        }

        /// <summary>Ends the request: emits its spans when it was traced (called once, when the session ends).</summary>
        public void Complete()
        {
            if (_completed || !Traced)
            {
                return;
            }

            _completed = true;
            var nowTicks = Stopwatch.GetTimestamp();
            var now = DateTimeOffset.UtcNow;
            DateTimeOffset At(long ticks) => now - Stopwatch.GetElapsedTime(ticks, nowTicks);

            // Gen-AI semantic conventions: span "{operation} {model}", gen_ai.* attributes.
            using var generation = MaasTelemetry.Source.StartActivity(_operation + " " + _requestedModel, ActivityKind.Internal, _parent, startTime: At(_started));
            if (generation is null)
            {
                return;
            }

            long outputTokens = 0;
            var reasons = new string[_choices.Count];
            var finished = true;
            for (var i = 0; i < _choices.Count; i++)
            {
                var c = _choices[i];
                outputTokens += c.Usage?.CompletionTokens ?? c.Progress?.GeneratedTokens ?? 0;
                reasons[i] = c.Finish switch
                {
                    FinishReason.Stop => "stop",
                    FinishReason.Length => "length",
                    _ => "incomplete",
                };
                finished &= c.Finish is not null;
            }

            generation.SetTag("gen_ai.system", "llama.cpp");
            generation.SetTag("gen_ai.operation.name", _operation);
            generation.SetTag("gen_ai.request.model", _requestedModel);
            generation.SetTag("gen_ai.response.model", _model.Spec.Name);
            generation.SetTag("maas.model.version", _model.Spec.Version);
            generation.SetTag("gen_ai.request.max_tokens", _requestedMaxTokens ?? _maxTokens);
            generation.SetTag("gen_ai.usage.input_tokens", _promptTokens);
            generation.SetTag("gen_ai.usage.output_tokens", outputTokens);
            generation.SetTag("gen_ai.response.finish_reasons", reasons);
            if (_responseId is not null)
            {
                generation.SetTag("gen_ai.response.id", _responseId);
            }

            if (_choices.Count == 0)
            {
                generation.SetStatus(ActivityStatusCode.Error, "the request was refused before generation");
            }
            else if (!finished)
            {
                generation.SetStatus(ActivityStatusCode.Error, "the generation did not finish (cancelled, failed or abandoned by the caller)");
            }

            for (var i = 0; i < _choices.Count; i++)
            {
                EmitChoice(generation.Context, i, _choices[i], At);
            }

            if (_lastEvent != 0)
            {
                // Non-streamed: building and writing the body after the last event. Streamed: the event stream, first event to end.
                var streamed = _lastEvent != _firstEvent && _stream;
                using var encode = MaasTelemetry.Source.StartActivity("maas.encode", ActivityKind.Internal, generation.Context, startTime: At(streamed ? _firstEvent : _lastEvent));
                encode?.SetTag("maas.protocol", _protocol);
                encode?.SetEndTime(now.UtcDateTime);
            }

            generation.SetEndTime(now.UtcDateTime);
        }

        private void EmitChoice(ActivityContext parent, int index, Choice c, Func<long, DateTimeOffset> at)
        {
            var admitted = c.Progress?.AdmittedTimestamp ?? 0;
            if (admitted != 0 && _prepared != 0)
            {
                using var queue = MaasTelemetry.Source.StartActivity("maas.queue", ActivityKind.Internal, parent, startTime: at(_prepared));
                queue?.SetTag("maas.model", _model.Spec.Name);
                queue?.SetTag("maas.model.version", _model.Spec.Version);
                queue?.SetTag("maas.llm.choice", index);
                queue?.SetEndTime(at(admitted).UtcDateTime);
            }

            var runStart = admitted != 0 ? admitted : _prepared;
            var runEnd = c.Finished != 0 ? c.Finished : _lastEvent;
            if (runStart == 0 || runEnd == 0)
            {
                return;
            }

            // Continuous batching: each step decodes every running sequence together, so the run is per choice, not per batch.
            using var run = MaasTelemetry.Source.StartActivity("maas.engine.run", ActivityKind.Internal, parent, startTime: at(runStart));
            if (run is null)
            {
                return;
            }

            run.SetTag("maas.model", _model.Spec.Name);
            run.SetTag("maas.model.version", _model.Spec.Version);
            run.SetTag("maas.llm.choice", index);
            if (c.FirstText != 0)
            {
                run.SetTag("maas.llm.time_to_first_token", Stopwatch.GetElapsedTime(_started, c.FirstText).TotalSeconds);
            }

            run.SetTag("gen_ai.usage.output_tokens", c.Usage?.CompletionTokens ?? c.Progress?.GeneratedTokens ?? 0);
            run.SetEndTime(at(Math.Max(runEnd, runStart)).UtcDateTime);
        }

        private sealed class Choice(GenerationProgress? progress)
        {
            public GenerationProgress? Progress { get; } = progress;

            public long FirstText { get; set; }

            public long LastText { get; set; }

            public long Finished { get; set; }

            public FinishReason? Finish { get; set; }

            public LlmUsage? Usage { get; set; }
        }
    }
}
