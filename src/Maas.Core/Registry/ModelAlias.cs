namespace Maas.Core.Registry;

/// <summary>A named pointer ("production", "staging", ...) at one version of a model.</summary>
/// <param name="Name">The alias name.</param>
/// <param name="Version">The version it points at.</param>
/// <param name="Revision">Increases by one on every move; the HTTP layer exposes it as the ETag for compare-and-set.</param>
/// <param name="UpdatedAt">When it last moved.</param>
/// <param name="UpdatedBy">Who moved it.</param>
public sealed record ModelAlias(string Name, int Version, long Revision, DateTimeOffset UpdatedAt, string UpdatedBy);
