namespace Maas.Core.Training;

/// <summary>A dataset version by name, number and content hash.</summary>
public sealed record DatasetReference(string Name, int Version, string Sha256);
