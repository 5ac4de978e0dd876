using System.Diagnostics;
using System.Diagnostics.Metrics;
using Maas.Core.Llm;
using Maas.Core.Observability;

namespace Maas.Server.OpenAi;

/// <summary>LLM serving metrics on the MaaS meter: time to first token, inter-token latency, tokens, and each loaded engine's load.</summary>
internal sealed class LlmMetrics
{
    private readonly Histogram<double> _timeToFirstToken = MaasTelemetry.Meter.CreateHistogram<double>(
        "maas.llm.time_to_first_token", "s", "Time from the request's arrival to its first generated text");

    private readonly Histogram<double> _interTokenLatency = MaasTelemetry.Meter.CreateHistogram<double>(
        "maas.llm.inter_token_latency", "s", "Time between consecutive pieces of generated text of one choice");

    private readonly Counter<long> _promptTokens = MaasTelemetry.Meter.CreateCounter<long>("maas.llm.prompt_tokens", "{token}", "Prompt tokens of finished generations");

    private readonly Counter<long> _cachedPromptTokens = MaasTelemetry.Meter.CreateCounter<long>(
        "maas.llm.cached_prompt_tokens", "{token}", "Prompt tokens reused from the prefix cache instead of being computed");

    private readonly Counter<long> _generatedTokens = MaasTelemetry.Meter.CreateCounter<long>("maas.llm.generated_tokens", "{token}", "Generated tokens");

    public LlmMetrics(LlmEngineManager manager)
    {
        MaasTelemetry.Meter.CreateObservableGauge("maas.llm.running_sequences", () => Each(manager, s => s.Running), "{sequence}", "Sequences generating now, per loaded model");
        MaasTelemetry.Meter.CreateObservableGauge("maas.llm.waiting_requests", () => Each(manager, s => s.Waiting), "{request}", "Requests waiting for a free slot, per loaded model");
        MaasTelemetry.Meter.CreateObservableGauge("maas.llm.kv_cache_fill", () => Each(manager, s => s.KvFill), "1", "Fraction of KV cache cells in use, per loaded model");
        MaasTelemetry.Meter.CreateObservableGauge("maas.llm.prefix_cache_hit_ratio", () => Each(manager, s => s.PromptTokens == 0 ? 0 : (double)s.CachedPromptTokens / s.PromptTokens), "1", "Share of prompt tokens served from the prefix cache since the model loaded");
        MaasTelemetry.Meter.CreateObservableGauge("maas.llm.loaded_models", () => manager.Loaded().Count, "{model}", "LLM engines loaded");
    }

    /// <summary>Starts timing one request's stream.</summary>
    public Timer Start(ResolvedLlm model) => new(this, model);

    private static IEnumerable<Measurement<T>> Each<T>(LlmEngineManager manager, Func<LlmEngineStatistics, T> read)
        where T : struct =>
        manager.Loaded().Select(e => new Measurement<T>(read(e.Engine.GetStatistics()), Tags(e.Name, e.Version)));

    private static KeyValuePair<string, object?>[] Tags(string model, int version) =>
        [new("model", model), new("version", version)];

    /// <summary>Times the events of one request (all its choices).</summary>
    internal sealed class Timer(LlmMetrics metrics, ResolvedLlm model)
    {
        private readonly long _started = Stopwatch.GetTimestamp();
        private readonly Dictionary<int, long> _last = [];
        private readonly KeyValuePair<string, object?>[] _tags = Tags(model.Spec.Name, model.Spec.Version);

        public void Observe(ChoiceEvent e)
        {
            var now = Stopwatch.GetTimestamp();
            if (e.Event.Text.Length > 0)
            {
                if (_last.TryGetValue(e.Index, out var previous))
                {
                    metrics._interTokenLatency.Record(Stopwatch.GetElapsedTime(previous, now).TotalSeconds, _tags);
                }
                else
                {
                    metrics._timeToFirstToken.Record(Stopwatch.GetElapsedTime(_started, now).TotalSeconds, _tags);
                }

                _last[e.Index] = now;
            }

            if (e.Event.Usage is { } usage)
            {
                metrics._generatedTokens.Add(usage.CompletionTokens, _tags);
                metrics._promptTokens.Add(usage.PromptTokens, _tags);
                metrics._cachedPromptTokens.Add(usage.CachedPromptTokens, _tags);
            }
        }
    }
}
