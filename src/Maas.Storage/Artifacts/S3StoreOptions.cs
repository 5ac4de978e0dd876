namespace Maas.Storage.Artifacts;

/// <summary>Settings of the S3-compatible artifact store.</summary>
public sealed class S3StoreOptions
{
    /// <summary>The endpoint of an S3-compatible server (MinIO, Ceph, ...); empty for AWS itself.</summary>
    public string? ServiceUrl { get; set; }

    /// <summary>The region (signing region for S3-compatible servers).</summary>
    public string Region { get; set; } = "us-east-1";

    /// <summary>The bucket; it must exist.</summary>
    public string Bucket { get; set; } = "";

    /// <summary>A key prefix, so one bucket can hold several installations.</summary>
    public string Prefix { get; set; } = "artifacts/";

    /// <summary>The access key id; empty uses the AWS SDK's default credential chain (environment, profile, instance role).</summary>
    public string? AccessKey { get; set; }

    /// <summary>The secret access key.</summary>
    public string? SecretKey { get; set; }

    /// <summary>Path-style addressing (bucket in the path), which most S3-compatible servers need.</summary>
    public bool ForcePathStyle { get; set; } = true;

    /// <summary>Files above this size upload as a multipart upload of parts this big (S3 allows 5 MiB to 5 GiB, and 10,000 parts).</summary>
    public long PartSizeBytes { get; set; } = 64L << 20;
}
