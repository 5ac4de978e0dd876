namespace Maas.Core.Registry;

/// <summary>A reference resolved to a ready version, with the alias it went through (if any).</summary>
public sealed record ResolvedVersion(Model Model, ModelVersion Version, string? Alias);
