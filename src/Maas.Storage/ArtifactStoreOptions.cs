using Maas.Storage.Artifacts;

namespace Maas.Storage;

/// <summary>Where artifacts are stored ("Maas:Artifacts" section).</summary>
public sealed class ArtifactStoreOptions
{
    /// <summary>The configuration section these options bind from.</summary>
    public const string Section = "Maas:Artifacts";

    /// <summary>"filesystem" (default) or "s3".</summary>
    public string Store { get; set; } = "filesystem";

    /// <summary>The filesystem store's folder; default <c>{DataDir}/artifacts</c>.</summary>
    public string? Path { get; set; }

    /// <summary>Where the S3 store keeps local copies for engines; default <c>{DataDir}/cache/artifacts</c>.</summary>
    public string? CachePath { get; set; }

    /// <summary>The S3 store's settings.</summary>
    public S3StoreOptions S3 { get; set; } = new();

    /// <summary>The problems with these settings, each naming its key.</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (string.Equals(Store, "s3", StringComparison.OrdinalIgnoreCase))
        {
            if (string.IsNullOrWhiteSpace(S3.Bucket))
            {
                errors.Add($"{Section}:S3:Bucket is required when {Section}:Store is 's3'");
            }

            if (S3.PartSizeBytes is < 5L << 20 or > 5L << 30)
            {
                errors.Add($"{Section}:S3:PartSizeBytes must be between 5 MiB and 5 GiB, not {S3.PartSizeBytes}");
            }

            if (!string.IsNullOrEmpty(S3.ServiceUrl) && !Uri.TryCreate(S3.ServiceUrl, UriKind.Absolute, out _))
            {
                errors.Add($"{Section}:S3:ServiceUrl must be an absolute URL, not '{S3.ServiceUrl}'");
            }
        }
        else if (!string.Equals(Store, "filesystem", StringComparison.OrdinalIgnoreCase))
        {
            errors.Add($"{Section}:Store must be 'filesystem' or 's3', not '{Store}'");
        }

        return errors;
    }
}
