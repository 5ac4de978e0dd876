namespace Maas.Core.TensorServing;

/// <summary>How one model version is scheduled: instances, queue, batching and timeouts.</summary>
public sealed record SchedulerOptions
{
    /// <summary>Engine instances (sessions) that run batches in parallel.</summary>
    public int InstanceCount { get; init; } = 1;

    /// <summary>Engine threads per instance; 0 lets the engine choose.</summary>
    public int ThreadsPerInstance { get; init; }

    /// <summary>Execution providers in order of preference (<see cref="ExecutionProviders"/>); empty means CPU only.</summary>
    public IReadOnlyList<string> Providers { get; init; } = [];

    /// <summary>The most rows one batch may hold; 0 or 1 turns dynamic batching off.</summary>
    public int MaxBatchSize { get; init; } = 32;

    /// <summary>Batch sizes worth dispatching at once without waiting for the queue delay.</summary>
    public IReadOnlyList<int> PreferredBatchSizes { get; init; } = [];

    /// <summary>How long the oldest queued request may wait for others to join its batch.</summary>
    public TimeSpan MaxQueueDelay { get; init; } = TimeSpan.Zero;

    /// <summary>How many requests may wait in the queue; more are rejected at once.</summary>
    public int QueueLimit { get; init; } = 256;

    /// <summary>The time a request may take (queue included) unless it asks for less or more.</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>
    /// The longest an admitted request should spend queued and running (zero: no budget), counted from its admission when
    /// it was admitted before its body was read (<see cref="ModelScheduler.Admit"/>), so the body's read is inside it
    /// (for at most the 20% admission leaves for it). A request whose expected wait plus run is longer than most of it
    /// is refused at once; a queued one that would finish past it is dropped rather than answered late. Both are
    /// <see cref="InferenceErrorKind.QueueFull"/>.
    /// </summary>
    public TimeSpan QueueTimeBudget { get; init; } = TimeSpan.Zero;

    /// <summary>The Retry-After hint given with a queue-full rejection (the least; see <see cref="MaxRetryAfter"/>).</summary>
    public TimeSpan RetryAfter { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// The longest Retry-After hint: while refusals outnumber admissions the hint grows (in whole seconds) so that the
    /// refused clients come back about as fast as places open, rather than all at once.
    /// </summary>
    public TimeSpan MaxRetryAfter { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Throws <see cref="ArgumentException"/> naming the first setting out of range.</summary>
    public void Validate()
    {
        if (InstanceCount is < 1 or > 64)
        {
            throw new ArgumentException($"InstanceCount must be 1..64, not {InstanceCount}");
        }

        if (ThreadsPerInstance is < 0 or > 1024)
        {
            throw new ArgumentException($"ThreadsPerInstance must be 0..1024, not {ThreadsPerInstance}");
        }

        if (Providers.Count > 0 && ExecutionProviders.Validate(Providers, "Providers") is [var problem, ..])
        {
            throw new ArgumentException(problem);
        }

        if (MaxBatchSize < 0)
        {
            throw new ArgumentException($"MaxBatchSize must be >= 0, not {MaxBatchSize}");
        }

        if (PreferredBatchSizes.Any(p => p < 1 || (MaxBatchSize > 1 && p > MaxBatchSize)))
        {
            throw new ArgumentException($"PreferredBatchSizes must be between 1 and MaxBatchSize ({MaxBatchSize})");
        }

        if (MaxQueueDelay < TimeSpan.Zero || MaxQueueDelay > TimeSpan.FromSeconds(10))
        {
            throw new ArgumentException($"MaxQueueDelay must be 0..10 s, not {MaxQueueDelay}");
        }

        if (QueueLimit < 1)
        {
            throw new ArgumentException($"QueueLimit must be >= 1, not {QueueLimit}");
        }

        if (QueueTimeBudget < TimeSpan.Zero)
        {
            throw new ArgumentException($"QueueTimeBudget must not be negative, not {QueueTimeBudget}");
        }

        if (Timeout <= TimeSpan.Zero)
        {
            throw new ArgumentException($"Timeout must be positive, not {Timeout}");
        }
    }
}
