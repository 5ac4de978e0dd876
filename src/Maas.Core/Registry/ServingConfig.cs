namespace Maas.Core.Registry;

/// <summary>How serving runs a model's versions; null fields mean "the server's default".</summary>
/// <remarks>Triton's per-model config for ONNX (instances, batching, queue) plus llama.cpp's context and slots for GGUF.</remarks>
public sealed record ServingConfig
{
    /// <summary>Engine instances (ONNX Runtime sessions) per loaded version.</summary>
    public int? InstanceCount { get; init; }

    /// <summary>The largest batch the dynamic batcher forms; 0 turns batching off.</summary>
    public int? MaxBatchSize { get; init; }

    /// <summary>Batch sizes the batcher prefers to dispatch at once, ascending.</summary>
    public IReadOnlyList<int>? PreferredBatchSizes { get; init; }

    /// <summary>How long a request may wait for a batch to fill, in milliseconds.</summary>
    public double? MaxQueueDelayMs { get; init; }

    /// <summary>Requests that may wait in the queue before callers get 429.</summary>
    public int? QueueLimit { get; init; }

    /// <summary>
    /// LLM: <c>/v1/embeddings</c> requests that may wait while the model's embedder computes another (it computes one at
    /// a time) before callers get 429; 0 = none waits.
    /// </summary>
    public int? EmbeddingQueueLimit { get; init; }

    /// <summary>LLM: the longest an embeddings request may wait for the model's embedder, in milliseconds, before it gets 504.</summary>
    public int? EmbeddingQueueTimeoutMs { get; init; }

    /// <summary>Per-request timeout in milliseconds.</summary>
    public int? TimeoutMs { get; init; }

    /// <summary>ONNX: how long an admitted request may spend queued and running, in milliseconds (0 = no budget); longer waits are refused early.</summary>
    public int? QueueTimeBudgetMs { get; init; }

    /// <summary>LLM: the context size in tokens (0 = the model's own).</summary>
    public int? ContextSize { get; init; }

    /// <summary>LLM: parallel sequences (slots) decoded together.</summary>
    public int? ParallelSequences { get; init; }

    /// <summary>Compute threads per instance.</summary>
    public int? Threads { get; init; }

    /// <summary>
    /// ONNX: the execution providers to use, in order of preference (<c>tensorrt</c>, <c>cuda</c>, <c>cpu</c>); CPU is
    /// always the fallback. GPU providers need the GPU build; a build without them runs the model on CPU.
    /// </summary>
    public IReadOnlyList<string>? Providers { get; init; }

    /// <summary>Load the model when the server starts rather than on its first request.</summary>
    public bool? LoadAtStart { get; init; }

    /// <summary>Keep the model loaded: loaded at start, never evicted for memory nor unloaded when idle.</summary>
    public bool? Pinned { get; init; }

    /// <summary>Unload after this many idle seconds (0 = never).</summary>
    public int? KeepAliveSeconds { get; init; }

    /// <summary>
    /// Log this model's request payloads and generated outputs (category <c>Maas.Payloads</c>); off by default, as
    /// payloads may hold personal data.
    /// </summary>
    public bool? LogPayloads { get; init; }

    /// <summary>
    /// ONNX: class labels by output name, for the classification extension (Triton's label file per output): an output
    /// ranked with <c>"classification": K</c> answers <c>"value:index:label"</c> with the index-th label. Wins over the
    /// labels the version carries (its <c>maas.*</c> metadata, the classifier nodes of its file).
    /// </summary>
    public IReadOnlyDictionary<string, IReadOnlyList<string>>? Labels { get; init; }

    /// <summary>The most outputs <see cref="Labels"/> may name.</summary>
    public const int MaxLabelledOutputs = 1024;

    /// <summary>The longest output name <see cref="Labels"/> may use, in characters.</summary>
    public const int MaxOutputNameChars = 1024;

    /// <summary>The problems with this configuration, one sentence each; empty when it is valid.</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        Range(errors, "instance_count", InstanceCount, 1, 64);
        Range(errors, "max_batch_size", MaxBatchSize, 0, 65536);
        Range(errors, "queue_limit", QueueLimit, 0, 1_000_000);
        Range(errors, "embedding_queue_limit", EmbeddingQueueLimit, 0, 1_000_000);
        Range(errors, "embedding_queue_timeout_ms", EmbeddingQueueTimeoutMs, 1, 3_600_000);
        Range(errors, "timeout_ms", TimeoutMs, 0, 86_400_000);
        Range(errors, "queue_time_budget_ms", QueueTimeBudgetMs, 0, 86_400_000);
        Range(errors, "context_size", ContextSize, 0, 1 << 22);
        Range(errors, "parallel_sequences", ParallelSequences, 1, 1024);
        Range(errors, "threads", Threads, 1, 1024);
        Range(errors, "keep_alive_seconds", KeepAliveSeconds, 0, 31_536_000);
        if (MaxQueueDelayMs is { } delay && (double.IsNaN(delay) || delay < 0 || delay > 60_000))
        {
            errors.Add($"max_queue_delay_ms must be between 0 and 60000, not {delay}");
        }

        if (Providers is { } providers)
        {
            errors.AddRange(TensorServing.ExecutionProviders.Validate(providers, "providers"));
        }

        if (PreferredBatchSizes is { } sizes)
        {
            for (var i = 0; i < sizes.Count; i++)
            {
                if (sizes[i] < 1 || (MaxBatchSize is { } max && sizes[i] > max))
                {
                    errors.Add($"preferred_batch_sizes[{i}] = {sizes[i]} must be between 1 and max_batch_size " +
                        $"({MaxBatchSize?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "unset"})");
                }
                else if (i > 0 && sizes[i] <= sizes[i - 1])
                {
                    errors.Add("preferred_batch_sizes must be strictly ascending");
                }
            }
        }

        if (Labels is { } labels)
        {
            ValidateLabels(errors, labels);
        }

        return errors;
    }

    private static void ValidateLabels(List<string> errors, IReadOnlyDictionary<string, IReadOnlyList<string>> labels)
    {
        if (labels.Count > MaxLabelledOutputs)
        {
            errors.Add($"labels names {labels.Count} outputs; at most {MaxLabelledOutputs} may have labels");
            return;
        }

        foreach (var (output, list) in labels)
        {
            if (output.Length is 0 or > MaxOutputNameChars)
            {
                errors.Add($"labels: an output name must have 1 to {MaxOutputNameChars} characters, not {output.Length}");
                continue;
            }

            if (list is null)
            {
                errors.Add($"labels.{output} must be a list of strings (the output's class labels, by index), not null");
                continue;
            }

            for (var i = 0; i < list.Count; i++)
            {
                if (list[i] is not { Length: > 0 })
                {
                    // One sentence per output: a list of thousands of nulls is one mistake.
                    errors.Add($"labels.{output}[{i}] must be a non-empty string, not {(list[i] is null ? "null" : "\"\"")}");
                    break;
                }
            }
        }
    }

    private static void Range(List<string> errors, string name, int? value, int min, int max)
    {
        if (value is { } v && (v < min || v > max))
        {
            errors.Add($"{name} must be between {min} and {max}, not {v}");
        }
    }
}
