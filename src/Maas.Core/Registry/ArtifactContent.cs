namespace Maas.Core.Registry;

/// <summary>An open artifact file: its content, length, and its path when the store keeps it on the local disk.</summary>
public sealed record ArtifactContent(Stream Stream, long Length, string? LocalPath) : IDisposable
{
    /// <inheritdoc />
    public void Dispose() => Stream.Dispose();
}
