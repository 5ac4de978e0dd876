using System.ComponentModel.DataAnnotations;
using Maas.Core.TensorServing;

namespace Maas.Server.TensorInference;

/// <summary>Settings of the inference protocols and the scheduler defaults, bound from "Maas:Inference".</summary>
public sealed class InferenceOptions : IValidatableObject
{
    /// <summary>The configuration section these options bind from.</summary>
    public const string Section = "Maas:Inference";

    /// <summary>
    /// Whether clients may register system shared-memory regions (Triton's system_shared_memory extension) and pass
    /// tensors through them instead of the request and response bodies. Off by default (Triton's --allow-client-shm):
    /// a region lets a caller have the server read and write an object under <see cref="SharedMemoryDirectory"/>.
    /// </summary>
    public bool AllowClientSharedMemory { get; set; }

    /// <summary>Where POSIX shared-memory objects live as files ("/name" is this directory's file "name").</summary>
    [Required]
    public string SharedMemoryDirectory { get; set; } = "/dev/shm";

    /// <summary>How many shared-memory regions one tenant may have registered at once.</summary>
    [Range(1, 100_000)]
    public int MaxSharedMemoryRegionsPerTenant { get; set; } = 64;

    /// <summary>The largest request body (JSON plus binary tensors) or gRPC message accepted, in bytes.</summary>
    [Range(1024, int.MaxValue)]
    public long MaxRequestBodyBytes { get; set; } = 64L * 1024 * 1024;

    /// <summary>
    /// How many bytes of a request the HTTP listener reads off a connection ahead of its handler (the socket transport's
    /// read buffer and Kestrel's request buffer; Kestrel's own default is 1 MiB). Small, so that a request refused from
    /// its headers (a full queue) leaves the rest of its upload unread in the socket when the connection is closed.
    /// </summary>
    [Range(MinHttpReadAheadBytes, 1L << 30, ErrorMessage = "Maas:Inference:HttpReadAheadBytes must be between 65536 and 1073741824")]
    public long HttpReadAheadBytes { get; set; } = MinHttpReadAheadBytes;

    /// <summary>
    /// The size of the blocks the HTTP listener receives request bytes into (0: Kestrel's own pool of 4 KiB blocks). One
    /// socket receive fills at most one block and wakes the request's reader once, so larger blocks mean fewer receives
    /// and thread-pool hand-offs for large tensor bodies, at the cost of a block per connection that is receiving.
    /// </summary>
    [Range(0, 1024 * 1024, ErrorMessage = "Maas:Inference:HttpReceiveBlockBytes must be 0 (Kestrel's pool) or between 4096 and 1048576")]
    public int HttpReceiveBlockBytes { get; set; } = 64 * 1024;

    /// <summary>
    /// The HTTP listener's transport: "sockets" (Kestrel's: connections share the thread pool) or "threads" (a thread per
    /// connection that waits for its bytes itself and runs the request's reading inline; no thread-pool hand-offs or
    /// spinning while a large body arrives, at the price of a thread per open connection, bounded by
    /// Kestrel:Limits:MaxConcurrentConnections). For servers of few clients sending large tensors.
    /// </summary>
    [RegularExpression("^(sockets|threads)$", ErrorMessage = "Maas:Inference:HttpTransport must be sockets or threads")]
    public string HttpTransport { get; set; } = "sockets";

    /// <summary>How many free receive blocks the listener keeps for reuse (more are released to the garbage collector).</summary>
    [Range(0, 1_000_000)]
    public int HttpReceiveBlocksRetained { get; set; } = 256;

    /// <summary>
    /// New HTTP connections a second one client address may open (IPv6 counted per /64; 0 turns the limit off). Over it,
    /// a connection is answered 429 with Retry-After and closed before its request is parsed: it holds back clients that
    /// ignore Retry-After and reconnect at once after every refusal. Connections from Maas:Auth:TrustedProxies are
    /// never limited (they carry many clients); clients behind one NAT address share the rate.
    /// </summary>
    [Range(0.0, 1_000_000.0, ErrorMessage = "Maas:Inference:HttpConnectionsPerSecondPerAddress must be between 0 (off) and 1000000")]
    public double HttpConnectionsPerSecondPerAddress { get; set; }

    /// <summary>How many connections one address may open at once after a quiet spell, over <see cref="HttpConnectionsPerSecondPerAddress"/>.</summary>
    [Range(1, 1_000_000, ErrorMessage = "Maas:Inference:HttpConnectionBurstPerAddress must be between 1 and 1000000")]
    public int HttpConnectionBurstPerAddress { get; set; } = 50;

    /// <summary>The least read-ahead: Kestrel needs a request line (8 KiB) and its headers (32 KiB) to fit.</summary>
    public const long MinHttpReadAheadBytes = 64 * 1024;

    /// <summary>The most elements one input tensor may hold.</summary>
    [Range(1, long.MaxValue)]
    public long MaxTensorElements { get; set; } = 16L * 1024 * 1024;

    /// <summary>Where the gRPC service listens (http:// for h2c, https:// with GrpcCertificatePath); empty turns gRPC off. Port 0 picks a free port.</summary>
    public string GrpcUrl { get; set; } = DefaultGrpcUrl;

    /// <summary>The default gRPC address.</summary>
    public const string DefaultGrpcUrl = "http://127.0.0.1:8081";

    /// <summary>What start-up says of a <see cref="GrpcUrl"/> that is neither empty nor an http:// or https:// address.</summary>
    public const string GrpcUrlProblem = $"{Section}:{nameof(GrpcUrl)} must be empty (gRPC off) or an http:// or https:// address such as {DefaultGrpcUrl}";

    /// <summary>Whether <see cref="GrpcUrl"/> is empty (off) or an absolute http:// or https:// address.</summary>
    public bool GrpcUrlIsValid() =>
        string.IsNullOrWhiteSpace(GrpcUrl)
        || (Uri.TryCreate(GrpcUrl, UriKind.Absolute, out var uri) && (uri.Scheme == Uri.UriSchemeHttp || uri.Scheme == Uri.UriSchemeHttps));

    /// <summary>The certificate for an https:// GrpcUrl: a PFX file, or a PEM certificate with <see cref="GrpcCertificateKeyPath"/>.</summary>
    public string? GrpcCertificatePath { get; set; }

    /// <summary>The PEM private key of <see cref="GrpcCertificatePath"/> (unset for a PFX).</summary>
    public string? GrpcCertificateKeyPath { get; set; }

    /// <summary>The PFX password (or the encrypted PEM key's).</summary>
    public string? GrpcCertificatePassword { get; set; }

    /// <summary>
    /// gRPC response compression: "auto" answers compressed requests with the same encoding, "gzip" or "deflate"
    /// compress every response whose client accepts it (grpc-accept-encoding), "none" never compresses.
    /// </summary>
    [RegularExpression("^(auto|gzip|deflate|none)$", ErrorMessage = "Maas:Inference:GrpcResponseCompression must be auto, gzip, deflate or none")]
    public string GrpcResponseCompression { get; set; } = "auto";

    /// <summary>gRPC response messages smaller than this are sent uncompressed even when compression is on.</summary>
    [Range(0, int.MaxValue)]
    public long GrpcCompressionMinBytes { get; set; } = 1024;

    /// <summary>Concurrent streams (calls) one HTTP/2 connection to the gRPC listener may have open.</summary>
    [Range(1, 10_000, ErrorMessage = "Maas:Inference:GrpcMaxStreamsPerConnection must be between 1 and 10000")]
    public int GrpcMaxStreamsPerConnection { get; set; } = 100;

    /// <summary>Open connections the gRPC listener accepts; more are refused until one closes (0 = no limit).</summary>
    [Range(0, 1_000_000, ErrorMessage = "Maas:Inference:GrpcMaxConnections must be between 0 (no limit) and 1000000")]
    public int GrpcMaxConnections { get; set; } = 1000;

    /// <summary>Register the demo model on first start with an empty registry.</summary>
    public bool Demo { get; set; } = true;

    /// <summary>Engine instances per loaded version, unless the model's configuration says otherwise.</summary>
    [Range(1, 64)]
    public int InstanceCount { get; set; } = 1;

    /// <summary>Engine threads per instance (0: the engine's default, one per core).</summary>
    [Range(0, 1024)]
    public int ThreadsPerInstance { get; set; }

    /// <summary>Max batch size for models with a dynamic first dimension (0 or 1: no batching).</summary>
    [Range(0, 65536)]
    public int MaxBatchSize { get; set; } = 32;

    /// <summary>How long the oldest queued request waits for a batch to fill, in milliseconds.</summary>
    [Range(0.0, 10_000.0)]
    public double MaxQueueDelayMs { get; set; }

    /// <summary>Requests that may wait per model version before callers get 429 / RESOURCE_EXHAUSTED.</summary>
    [Range(1, 1_000_000)]
    public int QueueLimit { get; set; } = 256;

    /// <summary>Per-request timeout in milliseconds, unless the model's configuration or the request says otherwise.</summary>
    [Range(1, 86_400_000)]
    public int TimeoutMs { get; set; } = 60_000;

    /// <summary>
    /// How long an admitted request may spend in a model (reading its body, queued and running), in milliseconds (0: no
    /// budget), unless the model's configuration says otherwise: a request expected to take longer is refused at once,
    /// one that would finish past it is dropped.
    /// </summary>
    [Range(0, 86_400_000, ErrorMessage = "Maas:Inference:QueueTimeBudgetMs must be between 0 (no budget) and 86400000")]
    public int QueueTimeBudgetMs { get; set; } = 10_000;

    /// <summary>The Retry-After given with a queue-full rejection, in seconds (the least; it grows with the refusals).</summary>
    [Range(1, 3600)]
    public int RetryAfterSeconds { get; set; } = 1;

    /// <summary>The longest Retry-After a queue-full rejection gives while refusals outnumber admissions, in seconds.</summary>
    [Range(1, 3600)]
    public int MaxRetryAfterSeconds { get; set; } = 30;

    /// <summary>How long a resolved model name or alias is reused before asking the registry again, in milliseconds.</summary>
    [Range(0, 600_000)]
    public int ResolveCacheMs { get; set; } = 1000;

    /// <summary>The most resolutions kept at once; past it the cache starts over (a bound against callers probing many versions or aliases).</summary>
    [Range(1, 10_000_000, ErrorMessage = "Maas:Inference:ResolveCacheEntries must be between 1 and 10000000")]
    public int ResolveCacheEntries { get; set; } = 10_000;

    /// <summary>The scheduler defaults these options describe.</summary>
    public SchedulerOptions SchedulerDefaults() => new()
    {
        InstanceCount = InstanceCount,
        ThreadsPerInstance = ThreadsPerInstance,
        MaxBatchSize = MaxBatchSize,
        MaxQueueDelay = TimeSpan.FromMilliseconds(MaxQueueDelayMs),
        QueueLimit = QueueLimit,
        Timeout = TimeSpan.FromMilliseconds(TimeoutMs),
        QueueTimeBudget = TimeSpan.FromMilliseconds(QueueTimeBudgetMs),
        RetryAfter = TimeSpan.FromSeconds(RetryAfterSeconds),
        MaxRetryAfter = TimeSpan.FromSeconds(Math.Max(RetryAfterSeconds, MaxRetryAfterSeconds)),
    };

    /// <inheritdoc />
    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (HttpReceiveBlockBytes is > 0 and < 4096)
        {
            yield return new ValidationResult(
                $"Maas:Inference:HttpReceiveBlockBytes must be 0 (Kestrel's pool) or between 4096 and 1048576, not {HttpReceiveBlockBytes}",
                [nameof(HttpReceiveBlockBytes)]);
        }
    }
}
