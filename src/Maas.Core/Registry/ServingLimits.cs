using System.Globalization;

namespace Maas.Core.Registry;

/// <summary>
/// Server-wide maxima of the resource settings a model's owner may put in its serving configuration
/// ("Maas:ServingLimits" section, set by whoever runs the server): one tenant cannot ask for every core or all memory.
/// </summary>
public sealed class ServingLimits
{
    /// <summary>The configuration section these options bind from.</summary>
    public const string Section = "Maas:ServingLimits";

    /// <summary>The largest <c>instance_count</c> (ONNX Runtime sessions per loaded version).</summary>
    public int MaxInstanceCount { get; set; } = 8;

    /// <summary>The largest <c>threads</c> per instance.</summary>
    public int MaxThreads { get; set; } = 64;

    /// <summary>The most threads one version may ask for, <c>instance_count</c> x <c>threads</c>.</summary>
    public int MaxTotalThreads { get; set; } = 128;

    /// <summary>The largest <c>context_size</c> (tokens per sequence) of an LLM.</summary>
    public int MaxContextSize { get; set; } = 131_072;

    /// <summary>The largest <c>parallel_sequences</c> of an LLM.</summary>
    public int MaxParallelSequences { get; set; } = 64;

    /// <summary>The most KV cache cells one LLM may ask for, <c>parallel_sequences</c> x <c>context_size</c>.</summary>
    public long MaxKvTokens { get; set; } = 262_144;

    /// <summary>The largest <c>max_batch_size</c> (rows the ONNX batcher stacks into one run).</summary>
    public int MaxBatchSize { get; set; } = 1024;

    /// <summary>The largest <c>queue_limit</c> and <c>embedding_queue_limit</c> (requests that may wait per model).</summary>
    public int MaxQueueLimit { get; set; } = 4096;

    /// <summary>The largest <c>timeout_ms</c> and <c>embedding_queue_timeout_ms</c>.</summary>
    public int MaxTimeoutMs { get; set; } = 600_000;

    /// <summary>The most class labels <c>labels</c> may give one output.</summary>
    public int MaxLabelsPerOutput { get; set; } = 32_768;

    /// <summary>The longest class label in <c>labels</c>, in characters.</summary>
    public int MaxLabelChars { get; set; } = 256;

    /// <summary>The problems with these settings, each naming its key.</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        Between(errors, nameof(MaxInstanceCount), MaxInstanceCount, 1, 64);
        Between(errors, nameof(MaxThreads), MaxThreads, 1, 1024);
        Between(errors, nameof(MaxTotalThreads), MaxTotalThreads, 1, 65_536);
        Between(errors, nameof(MaxContextSize), MaxContextSize, 1, 1 << 22);
        Between(errors, nameof(MaxParallelSequences), MaxParallelSequences, 1, 1024);
        Between(errors, nameof(MaxKvTokens), MaxKvTokens, 1, int.MaxValue);
        Between(errors, nameof(MaxBatchSize), MaxBatchSize, 0, 65_536);
        Between(errors, nameof(MaxQueueLimit), MaxQueueLimit, 1, 1_000_000);
        Between(errors, nameof(MaxTimeoutMs), MaxTimeoutMs, 1, 86_400_000);
        Between(errors, nameof(MaxLabelsPerOutput), MaxLabelsPerOutput, 1, 1_000_000);
        Between(errors, nameof(MaxLabelChars), MaxLabelChars, 1, 65_536);
        return errors;
    }

    /// <summary>The settings of <paramref name="config"/> above these maxima, one sentence each naming the maximum.</summary>
    public IReadOnlyList<string> Check(ServingConfig config)
    {
        var errors = new List<string>();
        AtMost(errors, "instance_count", config.InstanceCount, MaxInstanceCount, nameof(MaxInstanceCount));
        AtMost(errors, "threads", config.Threads, MaxThreads, nameof(MaxThreads));
        AtMost(errors, "context_size", config.ContextSize, MaxContextSize, nameof(MaxContextSize));
        AtMost(errors, "parallel_sequences", config.ParallelSequences, MaxParallelSequences, nameof(MaxParallelSequences));
        AtMost(errors, "max_batch_size", config.MaxBatchSize, MaxBatchSize, nameof(MaxBatchSize));
        AtMost(errors, "queue_limit", config.QueueLimit, MaxQueueLimit, nameof(MaxQueueLimit));
        AtMost(errors, "embedding_queue_limit", config.EmbeddingQueueLimit, MaxQueueLimit, nameof(MaxQueueLimit));
        AtMost(errors, "timeout_ms", config.TimeoutMs, MaxTimeoutMs, nameof(MaxTimeoutMs));
        AtMost(errors, "embedding_queue_timeout_ms", config.EmbeddingQueueTimeoutMs, MaxTimeoutMs, nameof(MaxTimeoutMs));

        // Products in 64 bits: two in-range ints never overflow a long.
        if (config.InstanceCount is { } instances && config.Threads is { } threads && (long)instances * threads > MaxTotalThreads)
        {
            errors.Add($"instance_count x threads = {(long)instances * threads} is above the server's maximum of {MaxTotalThreads} threads per model " +
                $"({Section}:{nameof(MaxTotalThreads)})");
        }

        if (config.ParallelSequences is { } slots && config.ContextSize is > 0 and var context)
        {
            CheckKvTokens(errors, slots, context);
        }

        if (config.Labels is { } labels)
        {
            foreach (var (output, list) in labels)
            {
                if (list is null)
                {
                    continue; // ServingConfig.Validate says so
                }

                if (list.Count > MaxLabelsPerOutput)
                {
                    errors.Add($"labels.{output} has {list.Count} labels, above the server's maximum of {MaxLabelsPerOutput} per output ({Section}:{nameof(MaxLabelsPerOutput)})");
                    continue;
                }

                for (var i = 0; i < list.Count; i++)
                {
                    if (list[i] is { } label && label.Length > MaxLabelChars)
                    {
                        errors.Add($"labels.{output}[{i}] has {label.Length} characters, above the server's maximum of {MaxLabelChars} ({Section}:{nameof(MaxLabelChars)})");
                        break;
                    }
                }
            }
        }

        return errors;
    }

    /// <summary>Adds an error when <paramref name="slots"/> x <paramref name="context"/> KV cells are above <see cref="MaxKvTokens"/>.</summary>
    public void CheckKvTokens(List<string> errors, int slots, int context)
    {
        var cells = (long)slots * context;
        if (cells > MaxKvTokens)
        {
            errors.Add($"parallel_sequences x context_size = {cells} KV cache tokens is above the server's maximum of {MaxKvTokens} ({Section}:{nameof(MaxKvTokens)})");
        }
    }

    private static void AtMost(List<string> errors, string name, int? value, long max, string option)
    {
        if (value is { } v && v > max)
        {
            errors.Add($"{name} = {v} is above the server's maximum of {max} ({Section}:{option})");
        }
    }

    private static void Between(List<string> errors, string name, long value, long min, long max)
    {
        if (value < min || value > max)
        {
            errors.Add(string.Create(CultureInfo.InvariantCulture, $"{Section}:{name} must be between {min} and {max}, not {value}"));
        }
    }
}
