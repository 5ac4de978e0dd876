namespace Maas.Core.Registry;

/// <summary>A resumable upload of one file of a model version.</summary>
public sealed record UploadSession : ResumableSession
{
    /// <summary>The key of the model the file is for.</summary>
    public required string Model { get; init; }
}
