namespace Maas.Core.Registry;

/// <summary>Registry settings: upload limits, resumable sessions, imports and start-up clean-up ("Maas:Registry" section).</summary>
public sealed class RegistryOptions
{
    /// <summary>The configuration section these options bind from.</summary>
    public const string Section = "Maas:Registry";

    /// <summary>The largest artifact one version upload may have, all files together (default 128 GiB).</summary>
    public long MaxUploadBytes { get; set; } = 128L << 30;

    /// <summary>How long an unfinished resumable upload is kept, in hours.</summary>
    public double UploadSessionTtlHours { get; set; } = 24;

    /// <summary>The longest an unfinished upload may be kept (a year), for models and datasets alike.</summary>
    public const double MaxUploadSessionTtlHours = 8_760;

    /// <summary>
    /// How often expired resumable uploads (of models and of datasets) are removed, their staged bytes with them, in
    /// milliseconds.
    /// </summary>
    public int UploadSessionSweepMs { get; set; } = 600_000;

    /// <summary>Flush staged files to disk before they are committed, so a power cut cannot leave a ready version with lost data.</summary>
    public bool FsyncUploads { get; set; } = true;

    /// <summary>
    /// On start, remove what crashed processes left (unfinished versions, staged drafts, half-committed and unused
    /// artifacts), and every lapse the unfinished versions of processes that died since; only what no live instance
    /// (<see cref="Instances.InstanceHeartbeat"/>) owns.
    /// </summary>
    public bool CleanOrphansOnStart { get; set; } = true;

    /// <summary>Imports running at once; more wait in the queue.</summary>
    public int MaxConcurrentImports { get; set; } = 2;

    /// <summary>The most bytes of artifacts the models of one tenant may hold, all versions together; 0 = no quota.</summary>
    public long TenantStorageQuotaBytes { get; set; }

    /// <summary>Uploads and imports are refused (507) while the staging disk has less free space than this.</summary>
    public long MinFreeDiskBytes { get; set; } = 512L << 20;

    /// <summary>Open resumable upload sessions one tenant may have.</summary>
    public int MaxUploadSessionsPerTenant { get; set; } = 64;

    /// <summary>Imports that may be queued or running at once; more get 429 (the queue cannot grow without bound).</summary>
    public int MaxQueuedImports { get; set; } = 64;

    /// <summary>How long one import may run in all (downloads, retries and validation), in seconds.</summary>
    public double ImportTimeoutSeconds { get; set; } = 6 * 3600;

    /// <summary>How many times an import resumes (HTTP Range) after a broken connection before it fails.</summary>
    public int ImportMaxAttempts { get; set; } = 5;

    /// <summary>An import that receives no byte for this many seconds is treated as a broken connection.</summary>
    public double ImportStallTimeoutSeconds { get; set; } = 60;

    /// <summary>Where hf://owner/repo/file references resolve to.</summary>
    public string HuggingFaceEndpoint { get; set; } = "https://huggingface.co";

    /// <summary>A Hugging Face access token for gated or private repositories (only sent to <see cref="HuggingFaceEndpoint"/>).</summary>
    public string? HuggingFaceToken { get; set; }

    /// <summary>
    /// Hosts imports may download from (exact names, or <c>*.example.com</c> for its subdomains); empty allows any
    /// host. The Hugging Face endpoint is always allowed.
    /// </summary>
    public string[] ImportAllowedHosts { get; set; } = [];

    /// <summary>
    /// Let imports reach loopback, private, link-local and other non-public addresses (off by default: a caller could
    /// otherwise make the server fetch from its own network).
    /// </summary>
    public bool ImportAllowPrivateNetworks { get; set; }

    /// <summary>The problems with these settings, each naming its key.</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (MaxUploadBytes < 1)
        {
            errors.Add($"{Section}:MaxUploadBytes must be at least 1, not {MaxUploadBytes}");
        }

        if (!(UploadSessionTtlHours is > 0 and <= MaxUploadSessionTtlHours))
        {
            errors.Add($"{Section}:UploadSessionTtlHours must be more than 0 and at most {MaxUploadSessionTtlHours} (a year), not {UploadSessionTtlHours}");
        }

        if (UploadSessionSweepMs is < 100 or > 86_400_000)
        {
            errors.Add($"{Section}:UploadSessionSweepMs must be between 100 and 86400000, not {UploadSessionSweepMs}");
        }

        if (MaxConcurrentImports < 1)
        {
            errors.Add($"{Section}:MaxConcurrentImports must be at least 1");
        }

        if (TenantStorageQuotaBytes < 0)
        {
            errors.Add($"{Section}:TenantStorageQuotaBytes must be 0 (no quota) or more, not {TenantStorageQuotaBytes}");
        }

        if (MinFreeDiskBytes < 0)
        {
            errors.Add($"{Section}:MinFreeDiskBytes must be 0 or more, not {MinFreeDiskBytes}");
        }

        if (MaxUploadSessionsPerTenant < 1 || MaxUploadSessionsPerTenant > 100_000)
        {
            errors.Add($"{Section}:MaxUploadSessionsPerTenant must be between 1 and 100000, not {MaxUploadSessionsPerTenant}");
        }

        if (MaxQueuedImports < 1 || MaxQueuedImports > 100_000)
        {
            errors.Add($"{Section}:MaxQueuedImports must be between 1 and 100000, not {MaxQueuedImports}");
        }

        if (!(ImportTimeoutSeconds > 0 && ImportTimeoutSeconds <= 7 * 86400))
        {
            errors.Add($"{Section}:ImportTimeoutSeconds must be more than 0 and at most 604800 (a week), not {ImportTimeoutSeconds}");
        }

        if (ImportMaxAttempts < 1)
        {
            errors.Add($"{Section}:ImportMaxAttempts must be at least 1");
        }

        if (!(ImportStallTimeoutSeconds is > 0 and <= 86_400))
        {
            errors.Add($"{Section}:ImportStallTimeoutSeconds must be more than 0 and at most 86400 (a day), not {ImportStallTimeoutSeconds}");
        }

        if (!Uri.TryCreate(HuggingFaceEndpoint, UriKind.Absolute, out var hub) || (hub.Scheme != Uri.UriSchemeHttp && hub.Scheme != Uri.UriSchemeHttps))
        {
            errors.Add($"{Section}:HuggingFaceEndpoint must be an http or https URL, not '{HuggingFaceEndpoint}'");
        }

        foreach (var host in ImportAllowedHosts)
        {
            var name = host.StartsWith("*.", StringComparison.Ordinal) ? host[2..] : host;
            if (Uri.CheckHostName(name) == UriHostNameType.Unknown)
            {
                errors.Add($"{Section}:ImportAllowedHosts holds '{host}', which is not a host name (use example.com or *.example.com)");
            }
        }

        return errors;
    }
}
