using Maas.Core.Registry;

namespace Maas.Core.Datasets;

/// <summary>A resumable upload of one dataset file, completed into the dataset's next version.</summary>
public sealed record DatasetUploadSession : ResumableSession
{
    /// <summary>The dataset the file becomes a version of.</summary>
    public required string Dataset { get; init; }

    /// <summary>The tenant that owns the dataset (sessions are counted per tenant).</summary>
    public required string Owner { get; init; }
}
