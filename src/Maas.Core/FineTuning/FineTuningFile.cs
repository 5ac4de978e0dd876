namespace Maas.Core.FineTuning;

/// <summary>An uploaded file of OpenAI's files API (<c>/v1/files</c>): metadata here, content in the artifact store under its SHA-256.</summary>
public sealed record FineTuningFile
{
    /// <summary>"file-" and a random part.</summary>
    public required string Id { get; init; }

    /// <summary>The tenant that uploaded it: only that tenant (and admins) may see, read, use or delete it.</summary>
    public required string Tenant { get; init; }

    /// <summary>The name the client gave the file.</summary>
    public required string Filename { get; init; }

    /// <summary>What it is for ("fine-tune").</summary>
    public required string Purpose { get; init; }

    /// <summary>Size in bytes.</summary>
    public long Bytes { get; init; }

    /// <summary>SHA-256 of the content (its artifact key).</summary>
    public required string Sha256 { get; init; }

    /// <summary>Number of examples (non-blank lines).</summary>
    public int Examples { get; init; }

    /// <summary>Who uploaded it.</summary>
    public string CreatedBy { get; init; } = "";

    /// <summary>When it was uploaded.</summary>
    public DateTimeOffset CreatedAt { get; init; }
}
