namespace Maas.Core.Registry;

/// <summary>One file of a version's artifact, at a path relative to the version's folder.</summary>
public sealed record ArtifactFile(string Path, string Sha256, long SizeBytes);
